"""Decoding of uploaded bytes in a child process that never held AWS credentials.

The pipeline's C decoders (pydicom's pixel handlers, openjpeg, libjpeg, GDCM, Pillow) read bytes
anyone on the internet can upload. They run in a fresh interpreter started by exec, with an
environment built from an allow-list and resource limits of its own, so a decoder bug can at worst
fail the one upload it was given. ``client.decode`` is the only entry point the product uses.
"""
