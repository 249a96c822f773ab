"""celeris.channels: publish/subscribe for WebSockets and SSE (extra ``celeris[channels]``).

```python
from celeris.channels import Channels

channels = Channels(app=app)    # memory by default; redis:// fans out across workers and machines
await channels.publish("room:1", {"text": "hi"})
async with channels.subscribe("room:1") as sub:
    async for message in sub: await ws.send_json(message)
```
"""

from celeris.channels.base import Backend, ChannelsUnavailable, Message, SlowSubscriber
from celeris.channels.channels import Channels, ChannelsHealth
from celeris.channels.subscription import Subscription

__all__ = [
    "Backend",
    "Channels",
    "ChannelsHealth",
    "ChannelsUnavailable",
    "Message",
    "SlowSubscriber",
    "Subscription",
]
