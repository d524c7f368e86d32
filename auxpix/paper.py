"""Numbers quoted from the paper (Kolesnikov & Lampert, ICML 2017), for side-by-side tables.

These are the paper's results, never ours: the book always labels them "paper".
"""

#: Table 1: negative log-likelihood on the CIFAR-10 test set, bits per dimension.
#: (model, bits/dim, is an upper bound)
TABLE1 = [
    ("Deep Diffusion", 5.40, True),
    ("NICE", 4.48, False),
    ("DRAW", 4.13, True),
    ("Deep GMMs", 4.00, False),
    ("Conv Draw", 3.58, True),
    ("Real NVP", 3.49, False),
    ("Matnet + AR", 3.24, True),
    ("PixelCNN", 3.14, False),
    ("VAE with IAF", 3.11, True),
    ("Gated PixelCNN", 3.03, False),
    ("PixelRNN", 3.00, False),
    ("Grayscale PixelCNN (this paper)", 2.98, True),
    ("DenseNet VLAE", 2.95, True),
    ("PixelCNN++", 2.92, False),
]

#: Section 4.1: the Grayscale PixelCNN's loss split, bits per colour dimension (3·32·32).
GRAYSCALE_SPLIT = {"aux_train": 0.442, "aux_test": 0.459, "cond_test": 2.52, "total_test": 2.98}

#: Section 4.2: the Pyramid PixelCNN on CIFAR-10, bits/dim on the test set.
PYRAMID_CIFAR10 = 3.32

#: Table 2: Pyramid PixelCNN on CelebA test images, bits/dim per resolution.
TABLE2 = {8: 4.58, 16: 4.30, 32: 3.33, 64: 2.61, 128: 1.52}

#: Section 4.2: seconds per generated pixel on an NVIDIA Titan X (Pyramid PixelCNN without
#: caching; PixelCNN++ with the caching of Ramachandran et al. 2017).
SECONDS_PER_PIXEL = {"pyramid": 0.004, "pixelcnnpp": 0.05}

#: Figure 4: the constants subtracted from the predicted log-scales ("log-variance").
VARIANCE_REDUCTION_SHIFTS = [round(0.1 * i, 1) for i in range(11)]
