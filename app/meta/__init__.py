"""What the service says about itself to anyone, before sign-in."""
