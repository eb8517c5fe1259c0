"""Networks in plain ``torch.nn`` (no Pyro): MLP, convolutional and GRU encoders and decoders."""
from zoo.nets.conv import ConvDecoder, ConvEncoder
from zoo.nets.mlp import ACTIVATIONS, MLPDecoder, MLPEncoder, check_sizes, mlp
from zoo.nets.seq import GRUEncoder, GRUFrameDecoder

__all__ = ["ACTIVATIONS", "ConvDecoder", "ConvEncoder", "GRUEncoder", "GRUFrameDecoder", "MLPDecoder",
           "MLPEncoder", "check_sizes", "mlp"]
