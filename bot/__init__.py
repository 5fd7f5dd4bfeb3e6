"""Välitupa's domain and wiring: settings, application, CLI, scheduler, programme and digest."""

import os

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after and friends) now, so
# PTB does not warn about the coming change on every 429; bot.ratelimit reads both forms.
os.environ.setdefault("PTB_TIMEDELTA", "true")
