"""``python -m crinfer.campaign run|status ...`` (same as ``crinfer campaign ...``)."""
from .cli import campaign_app

campaign_app(prog_name="python -m crinfer.campaign")
