"""fastText document classifiers: training from labelled sources (`training`), the saved model folder and
scoring (`model`), the text preparation both share (`preparation`), and held-out metrics (`metrics`)."""
