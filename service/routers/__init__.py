"""One router per resource: health, models, inference (images in), generation (latents in)."""
