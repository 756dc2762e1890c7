"""Flax (Linen) networks."""

from jaxgan.nets.dcgan import DCGANCritic, DCGANGenerator, check_image_shape
from jaxgan.nets.layers import (
    Maxout, SubPixelConvTranspose, conv_transpose_reference, depth_to_space, subpixel_kernel)
from jaxgan.nets.mlp import GoodfellowGenerator, MaxoutDiscriminator, MLPDiscriminator, MLPGenerator
