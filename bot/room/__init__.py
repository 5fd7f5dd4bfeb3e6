"""The facilitator's room: a Telegram Mini App served by the bot's own web server at ``/app/``.

:mod:`bot.room.api` holds the routes (the page and its JSON API), :mod:`bot.room.auth` the initData
check, :mod:`bot.room.views` the JSON shapes; the use cases are in :mod:`bot.services.room_views` and
:mod:`bot.services.merge`. The page itself (``static/``) is plain HTML, CSS and JavaScript.
"""
