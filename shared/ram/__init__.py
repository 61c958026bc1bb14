"""RAM family code (reward fine-tuning of a flow with adjoint matching): the toy with an analytic answer. No Ray."""
