"""Judging personal models as a device lives them: the prequential replay of a real export behind
``satchel evaluate``, and its reports."""
