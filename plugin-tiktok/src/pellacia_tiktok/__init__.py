"""TikTok Content Posting API platform plugin for pellacia-dist."""
