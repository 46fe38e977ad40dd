"""When and how personal models train: schedulers, the promotion rule of safe training, training
locks and the background runner."""
