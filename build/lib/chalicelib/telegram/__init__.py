"""The Telegram bot: webhook and polling entry points, commands, replies and the job notifier.

Only the modules that talk to Telegram import python-telegram-bot, and only inside their
functions: the API's other routes never pay its import time.
"""
