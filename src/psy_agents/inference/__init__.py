"""Use a trained model: a model directory that loads in one call, and answers on new posts."""

from psy_agents.inference.model_dir import TrainedModel, load_model, save_model
from psy_agents.inference.posts import Post, read_posts
from psy_agents.inference.predict import predict_examples, predict_posts

__all__ = ["Post", "TrainedModel", "load_model", "predict_examples", "predict_posts", "read_posts", "save_model"]
