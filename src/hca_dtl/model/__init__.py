"""Stacked autoassociators, greedy pretraining, fine-tuning and transfer (Keras 3, ``keras.ops`` only)."""
