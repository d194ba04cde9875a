"""What reaches the Hugging Face Hub: model cards (cards), model repos (publish) and the Space (space)."""
