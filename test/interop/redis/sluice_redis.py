"""A producer and consumer of sluice's Redis wire protocol v1, written from
docs/wire-protocol.md (its Redis section) alone, as a program in another language would be: its Lua scripts are
read from that page. test/interop/redis.test.ts drives it with Debian's python3-redis."""

import json
import re
import time

import redis


def document_scripts(document):
    """The page's scripts by name ('send', 'promote', 'ack', 'nack', 'dead-letter'), each
    preceded by the prelude, as the page says to run them."""
    with open(document, encoding='utf-8') as page:
        blocks = re.findall(r'```lua\n(.*?)```', page.read(), re.S)
    prelude, parts = blocks[0], blocks[1:]
    return {re.match(r'-- ([a-z-]+):', part).group(1): prelude + part for part in parts}


class Message:
    """One stream entry read by this consumer, decoded as the page describes."""

    def __init__(self, priority, entry_id, fields):
        self.priority = priority
        self.entry_id = entry_id
        self.fields = fields
        envelope = json.loads(fields['body'])
        self.id = envelope.get('id') or fields.get('id') or entry_id
        self.attempt = int(fields.get('attempt', '1'))
        self.headers = envelope.get('headers', {})
        self.payload = envelope['payload']
        self.reason = fields.get('reason')

    def summary(self):
        return {
            'payload': self.payload,
            'id': self.id,
            'attempt': self.attempt,
            'priority': self.priority,
            'headers': self.headers,
            'reason': self.reason,
            'fields': sorted(self.fields),
            'at': time.time() * 1000,
        }


class Queue:
    def __init__(self, name, document, consumer='py-worker'):
        self.redis = redis.Redis(host='127.0.0.1', port=6379, decode_responses=True)
        self.name = name
        self.stream = 'sluice:{%s}:stream' % name
        self.consumer = consumer
        self.scripts = {
            name: self.redis.register_script(lua) for name, lua in document_scripts(document).items()
        }

    def create_group(self):
        try:
            self.redis.xgroup_create(self.stream, 'sluice', id='0', mkstream=True)
        except redis.ResponseError as error:
            if 'BUSYGROUP' not in str(error):
                raise

    def xadd(self, body):
        return self.redis.xadd(self.stream, {'body': body})

    def send(self, body, priority=0, delay=0, key=''):
        return self.scripts['send'](keys=[self.stream], args=[body, priority, delay, key])

    def stream_of(self, priority):
        return self.stream if priority == '0' else '%s:%s' % (self.stream, priority)

    def priorities(self):
        listed = self.redis.zrange('sluice:{%s}:priorities' % self.name, 0, -1) + ['0']
        return sorted(listed, key=float, reverse=True)

    def read(self, count, block_ms):
        """One round of the page's loop: promote, read highest priority first, else block."""
        wait = self.scripts['promote'](keys=[self.stream])
        got, readable = [], []
        for priority in self.priorities():
            if len(got) >= count:
                break
            stream = self.stream_of(priority)
            try:
                reply = self.redis.xreadgroup('sluice', self.consumer, {stream: '>'}, count=count - len(got))
            except redis.ResponseError as error:
                if 'NOGROUP' not in str(error):
                    raise
                try:  # it lost its group: made again, unless the stream is gone
                    self.redis.xgroup_create(stream, 'sluice', id='0')
                except redis.ResponseError as failed:
                    if 'BUSYGROUP' not in str(failed):
                        continue
                reply = self.redis.xreadgroup('sluice', self.consumer, {stream: '>'}, count=count - len(got))
            readable.append(stream)
            got += self._messages(reply)
        if not got and readable:
            block = block_ms if wait < 0 else max(1, min(wait, block_ms))
            streams = {stream: '>' for stream in readable}
            got = self._messages(
                self.redis.xreadgroup('sluice', self.consumer, streams, count=count, block=block)
            )
        return got

    def receive(self, count, timeout=10):
        """Reads until `count` messages came; fails after `timeout` seconds."""
        deadline = time.time() + timeout
        got = []
        while len(got) < count:
            if time.time() > deadline:
                raise TimeoutError('received %d of %d messages' % (len(got), count))
            got += self.read(count - len(got), 100)
        return got

    def _messages(self, reply):
        messages = []
        for stream, entries in reply or []:
            priority = '0' if stream == self.stream else stream[len(self.stream) + 1 :]
            messages += [Message(priority, entry_id, fields) for entry_id, fields in entries]
        return messages

    def ack(self, message):
        return self.scripts['ack'](keys=[self.stream], args=[message.priority, message.entry_id])

    def nack(self, message, delay):
        args = [message.priority, message.entry_id, delay]
        return self.scripts['nack'](keys=[self.stream], args=args)

    def dead_letter(self, message, reason, dead_letter_queue):
        keys = [self.stream, 'sluice:{%s}:stream' % dead_letter_queue]
        args = [message.priority, message.entry_id, reason]
        return self.scripts['dead-letter'](keys=keys, args=args)
