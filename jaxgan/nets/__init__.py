"""Flax (Linen) networks."""

from jaxrun.conv import Conv, conv2d, depth_to_space, space_to_depth
from jaxgan.nets.dcgan import DCGANCritic, DCGANGenerator, check_image_shape
from jaxgan.nets.layers import (
    Maxout, SubPixelConvTranspose, conv_transpose_reference, subpixel_conv_transpose, subpixel_kernel)
from jaxgan.nets.mlp import GoodfellowGenerator, MaxoutDiscriminator, MLPDiscriminator, MLPGenerator
