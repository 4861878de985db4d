#!/usr/bin/env python3
"""A TCP relay that can be partitioned: `relay.py LISTEN_PORT TARGET_PORT` forwards
127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. SIGUSR1 cuts it like a network partition
(packets vanish: open connections stop moving bytes, new ones are accepted and never
answered, so clients time out rather than see a refusal); SIGUSR2 heals it (the stalled
connections are closed, new ones are forwarded again). Loopback only."""
import asyncio
import signal
import sys

cut = False
stalled = []  # connections opened or frozen during the cut


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            while cut:  # partitioned: hold the bytes, as a dead link would
                await asyncio.sleep(0.05)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(reader, writer, target):
    if cut:
        stalled.append(writer)
        return
    try:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        writer.close()
        return
    stalled.append(writer)
    stalled.append(up_w)
    await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))


def set_cut(value):
    global cut
    cut = value
    if not value:
        # Healed: what stalled during the cut is gone, as after a real partition's timeouts.
        for w in stalled:
            w.close()
        stalled.clear()


async def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, set_cut, True)
    loop.add_signal_handler(signal.SIGUSR2, set_cut, False)
    server = await asyncio.start_server(lambda r, w: handle(r, w, target), "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
