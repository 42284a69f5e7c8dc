"""The Microsoft Teams bot: the answering service in 1:1 chats and channels.

`server.create_bot(settings)` builds the app, `server.serve(settings, host, port)`
runs it; `package.build_package` writes the app package to side-load in Teams.
"""
