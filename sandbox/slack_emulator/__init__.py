"""Slack Web API emulator and signed-request driver for tests, benchmarks and the demo.

    from sandbox.slack_emulator import SlackEmulator, SlackDriver

    emu = SlackEmulator().start()
    team = emu.default_team()                      # T0001 "Acme", bot U0BOT
    client = WebClient(base_url=emu.api_url, token=team.bot_token)
    drv = SlackDriver(bot_url, signing_secret, emulator=emu)

    app_token = emu.register_app_token()           # Socket Mode: SLACK_APP_TOKEN
    drv = SocketModeDriver(emu)                    # same calls, as envelopes over the WebSocket
"""
from .driver import DriverResponse, SlackDriver, SocketModeDriver
from .emulator import SlackEmulator
from .faults import Fault
from .state import ApiError, Call, Team

__all__ = ["ApiError", "Call", "DriverResponse", "Fault", "SlackDriver", "SlackEmulator", "SocketModeDriver", "Team"]
