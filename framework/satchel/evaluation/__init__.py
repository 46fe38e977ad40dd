"""Judging personal models as a device lives them: the promotion rule of safe training, and the
prequential replay of a real export behind ``satchel evaluate``."""
