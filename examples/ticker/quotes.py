"""Quote sources: where the ticker's prices come from, behind one small interface.

A ``QuoteSource`` turns one trading account's released broker credentials and a list of
instruments into an endless stream of ``Quote`` values. The WebSocket handler never knows
which broker feed it is reading, so production (Kite's WebSocket ticker) and this demo (a
poll of the local Kite stand-in's ``GET /quote/ltp``) differ by one constructor.

Credentials are passed in per stream and live only as long as that stream: nothing here
stores, logs or caches them.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import httpx


@dataclass(frozen=True)
class BrokerSession:
    """What a quote source needs from released credentials; the token stays out of repr."""

    api_key: str
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class Quote:
    symbol: str
    last_price: float
    timestamp: dt.datetime


class QuoteSourceError(Exception):
    """The feed cannot go on (credentials rejected, broker down); the message is safe to show."""


class QuoteSource(Protocol):
    def stream(self, session: BrokerSession, symbols: Sequence[str]) -> AsyncIterator[Quote]:
        """Yield quotes for ``symbols`` until cancelled; raise ``QuoteSourceError`` to stop."""
        ...


class KitePollingSource:
    """Polls Kite Connect's ``GET /quote/ltp`` (``Authorization: token api_key:access_token``).

    Good enough for a demo and for the local stand-in; Kite rate-limits quote calls
    (1 request/s per app), so production uses :class:`KiteTickerSource` instead.
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str, interval: float = 0.5) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._interval = interval

    async def stream(self, session: BrokerSession, symbols: Sequence[str]) -> AsyncIterator[Quote]:
        headers = {
            "X-Kite-Version": "3",
            "Authorization": f"token {session.api_key}:{session.access_token}",
        }
        while True:
            try:
                response = await self._http.get(
                    f"{self._base_url}/quote/ltp",
                    params=[("i", symbol) for symbol in symbols],
                    headers=headers,
                )
            except httpx.HTTPError as exc:
                raise QuoteSourceError("The broker's quote feed is unreachable.") from exc
            if response.status_code == 403:
                raise QuoteSourceError("The broker rejected the account's access token.")
            if response.status_code != 200:
                raise QuoteSourceError(f"The broker's quote feed answered {response.status_code}.")
            now = dt.datetime.now(dt.UTC)
            for symbol, data in response.json()["data"].items():
                yield Quote(symbol, float(data["last_price"]), now)
            await anyio.sleep(self._interval)


class KiteTickerSource:
    """Production adapter: Kite's streaming WebSocket (``wss://ws.kite.trade``) in LTP mode.

    Not exercised by the demo (the stand-in has no binary ticker). The protocol, from Kite
    Connect's WebSocket documentation: connect with ``?api_key=…&access_token=…``; send
    ``{"a": "subscribe", "v": [tokens]}`` and ``{"a": "mode", "v": ["ltp", [tokens]]}``; each
    binary frame is a 2-byte packet count, then per packet a 2-byte length and the packet,
    whose LTP form is ``instrument_token`` (int32) and ``last_price`` (int32, paise).
    Instrument tokens come from Kite's instruments dump; pass the mapping in.
    """

    URL = "wss://ws.kite.trade"

    def __init__(self, instrument_tokens: dict[str, int]) -> None:
        self._tokens = instrument_tokens
        self._symbols = {token: symbol for symbol, token in instrument_tokens.items()}

    async def stream(self, session: BrokerSession, symbols: Sequence[str]) -> AsyncIterator[Quote]:
        import json

        import websockets  # uvicorn[standard] brings it

        tokens = [self._tokens[symbol] for symbol in symbols]
        url = f"{self.URL}?api_key={session.api_key}&access_token={session.access_token}"
        try:
            async with websockets.connect(url) as socket:
                await socket.send(json.dumps({"a": "subscribe", "v": tokens}))
                await socket.send(json.dumps({"a": "mode", "v": ["ltp", tokens]}))
                async for frame in socket:
                    if isinstance(frame, bytes):
                        for quote in self.parse(frame):
                            yield quote
        except websockets.WebSocketException as exc:
            raise QuoteSourceError("The broker's ticker connection failed.") from exc

    def parse(self, frame: bytes) -> list[Quote]:
        """LTP packets of one binary frame (a 1-byte frame is a heartbeat)."""
        if len(frame) < 2:
            return []
        now = dt.datetime.now(dt.UTC)
        (count,), offset, quotes = struct.unpack_from(">H", frame), 2, []
        for _ in range(count):
            (length,) = struct.unpack_from(">H", frame, offset)
            token, paise = struct.unpack_from(">ii", frame, offset + 2)
            offset += 2 + length
            if token in self._symbols:
                quotes.append(Quote(self._symbols[token], paise / 100, now))
        return quotes
