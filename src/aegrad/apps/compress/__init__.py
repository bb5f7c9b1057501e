"""Learned image compression with a trained ``codec`` run: the bitstream (codec.py, container.py), the
compress / decompress / rd commands, rate-distortion against JPEG/WebP and BD-rate.

The model family itself (transforms, entropy models, the rate-distortion objective) is aegrad/models/codec/.
"""

from aegrad.apps.compress.codec import ImageCodec

__all__ = ["ImageCodec"]
