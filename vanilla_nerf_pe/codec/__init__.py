"""The image codec: an image stored as a quantised, entropy-coded coordinate network (``.vnpi``).

- :mod:`~vanilla_nerf_pe.codec.quantize`: per-tensor k-bit quantisation (and its straight-through form);
- :mod:`~vanilla_nerf_pe.codec.entropy`: entropy coding of the integer symbols (raw, LZMA, ANS);
- :mod:`~vanilla_nerf_pe.codec.container`: the ``.vnpi`` file format (versions 1 and 2 read);
- :mod:`~vanilla_nerf_pe.codec.rate`: the rate model (the network for a rate) and the rate search's steps;
- :mod:`~vanilla_nerf_pe.codec.compress`: the compression driver (fit, fine-tune, encode; PSNR search);
- :mod:`~vanilla_nerf_pe.codec.baselines`, :mod:`~vanilla_nerf_pe.codec.rd`: the codecs it is
  compared with and the rate-distortion harness;
- :mod:`~vanilla_nerf_pe.codec.lab_kinds`: the image lab's kinds with the codec's (``vnp-image fit
  --kind latent``, ``compare --kinds ... latent``).

Builds on the core and the image lab's field and fit (:mod:`vanilla_nerf_pe.image`), never on the
command line (:mod:`vanilla_nerf_pe.cli`); no nerfstudio."""
