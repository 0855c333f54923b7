"""A RabbitMQ client that is not sluice, written from docs/wire-protocol.md (RabbitMQ) only (pika).

Run as `python3 -c <this file> '<command as JSON>'`; prints the result as JSON. Commands:

  {"op": "publish", "queue": q, "messages": [{"body": str, "priority"?: int, "message_id"?: str,
      "delay"?: ms, "key"?: str, "key_timeout"?: ms}]}
      -> [{"result": "sent" | "held", "at": epoch ms just before the publish}]
  {"op": "consume", "queue": q, "count": n, "timeout": s, "settle": "ack" | "ack-keep-key" |
      "retry" | "dead-letter" | "requeue", "delay"?: ms, "reason"?: str, "hold"?: ms}
      (`hold`: how long each message is held before it is settled)
      -> [{"body": str, "priority", "message_id", "headers", "redelivered", "at": epoch ms}]
"""
import hashlib
import json
import sys
import time

import pika

URL = 'amqp://guest:guest@127.0.0.1:5672/%2F'
PRIORITY_QUEUE = {'x-max-priority': 10}
KEY_HOLD = 86_400_000
KEY_QUEUE = {'x-max-length': 1, 'x-overflow': 'reject-publish', 'x-message-ttl': KEY_HOLD, 'x-expires': KEY_HOLD}
RELEASE_MARGIN = 1_000


def now_ms():
    return int(time.time() * 1000)


def marker_name(queue, key):
    readable = f'{queue}.key.{key}'
    if len(readable.encode()) <= 255 and not key.startswith('sha256.'):
        return readable
    return f'{queue}.key.sha256.{hashlib.sha256(key.encode()).hexdigest()}'


def message_id_of(body, properties):
    """The id of a message: the envelope's, else message_id, else derived from the body."""
    envelope = json.loads(body)
    if isinstance(envelope.get('id'), str) and envelope['id']:
        return envelope['id']
    if properties.message_id:
        return properties.message_id
    return 'sha256:' + hashlib.sha256(body).hexdigest()[:32]


def declare_delay_queue(channel, queue, delay):
    name = f'{queue}.delay.{delay}'
    channel.queue_declare(name, durable=True, arguments={
        'x-message-ttl': delay,
        'x-expires': delay + 60_000,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': queue,
    })
    return name


def publish_confirmed(channel, routing_key, body, properties):
    """Persistent, mandatory, confirmed; declares nothing (the target must exist)."""
    channel.basic_publish('', routing_key, body, properties, mandatory=True)


def take_key(channel, queue, key, key_timeout):
    """Returns the message's x-sluice-key-until if the key is now held for it, else None."""
    marker = marker_name(queue, key)
    until = now_ms() + key_timeout  # before the marker is published: it expires no earlier
    while True:
        declared = channel.queue_declare(marker, durable=True, arguments=KEY_QUEUE)
        if declared.method.message_count > 0:
            return None
        try:
            channel.basic_publish('', marker, b'', pika.BasicProperties(
                delivery_mode=2, expiration=str(key_timeout)), mandatory=True)
            return until
        except pika.exceptions.NackError:
            return None  # another producer holds the key
        except pika.exceptions.UnroutableError:
            continue  # the marker queue was deleted (the key released) after our declaration


def publish(channel, command):
    queue = command['queue']
    channel.queue_declare(queue, durable=True, arguments=PRIORITY_QUEUE)
    results = []
    for message in command['messages']:
        headers = {}
        key = message.get('key')
        if key is not None:
            until = take_key(channel, queue, key, message.get('key_timeout', KEY_HOLD))
            if until is None:
                results.append({'result': 'held', 'at': now_ms()})
                continue
            headers['x-sluice-key'] = key
            headers['x-sluice-key-until'] = until
        properties = pika.BasicProperties(
            delivery_mode=2,
            content_type='application/json',
            priority=message.get('priority', 5),
            message_id=message.get('message_id'),
            headers=headers or None,
        )
        delay = message.get('delay', 0)
        target = declare_delay_queue(channel, queue, delay) if delay > 0 else queue
        at = now_ms()
        publish_confirmed(channel, target, message['body'].encode(), properties)
        results.append({'result': 'sent', 'at': at})
    return results


def release_key(channel, queue, properties):
    headers = properties.headers or {}
    key = headers.get('x-sluice-key')
    until = headers.get('x-sluice-key-until')
    if key is not None and (until is None or now_ms() < until - RELEASE_MARGIN):
        channel.queue_delete(marker_name(queue, key))


def settle(channel, queue, method, properties, body, command):
    how = command['settle']
    if how == 'ack':
        release_key(channel, queue, properties)
        channel.basic_ack(method.delivery_tag)
    elif how == 'ack-keep-key':  # a consumer that does not follow the protocol
        channel.basic_ack(method.delivery_tag)
    elif how == 'requeue':
        channel.basic_nack(method.delivery_tag, requeue=True)
    elif how == 'retry':
        envelope = json.loads(body)
        envelope['id'] = message_id_of(body, properties)
        envelope['attempt'] = envelope.get('attempt', 1) + 1
        delay = command.get('delay', 0)
        target = declare_delay_queue(channel, queue, delay) if delay > 0 else queue
        publish_confirmed(channel, target, json.dumps(envelope).encode(), properties)
        channel.basic_ack(method.delivery_tag)  # the key stays held through the retry
    elif how == 'dead-letter':
        envelope = json.loads(body)
        envelope['id'] = message_id_of(body, properties)
        headers = dict(properties.headers or {})
        headers.pop('x-sluice-key', None)
        headers.pop('x-sluice-key-until', None)
        headers['x-sluice-reason'] = command['reason']
        dead = f'{queue}.dead'
        channel.queue_declare(dead, durable=True, arguments=PRIORITY_QUEUE)
        publish_confirmed(channel, dead, json.dumps(envelope).encode(), pika.BasicProperties(
            delivery_mode=2, content_type=properties.content_type, priority=properties.priority,
            headers=headers))
        release_key(channel, queue, properties)
        channel.basic_ack(method.delivery_tag)
    else:
        raise ValueError(f'unknown settle {how}')


def consume(channel, command):
    queue = command['queue']
    received = []
    deadline = time.time() + command.get('timeout', 10)
    while len(received) < command['count'] and time.time() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            time.sleep(0.02)
            continue
        received.append({
            'body': body.decode(),
            'priority': properties.priority,
            'message_id': properties.message_id,
            'headers': {k: v for k, v in (properties.headers or {}).items() if isinstance(v, str)},
            'redelivered': method.redelivered,
            'at': now_ms(),
        })
        time.sleep(command.get('hold', 0) / 1000)
        settle(channel, queue, method, properties, body, command)
    return received


def main():
    command = json.loads(sys.argv[1])
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        result = publish(channel, command) if command['op'] == 'publish' else consume(channel, command)
    finally:
        connection.close()
    print(json.dumps(result))


main()
