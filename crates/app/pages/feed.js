// The feed page: the latest posts, then every post and deletion as it happens, from
// /api/events. Plain DOM, no build step. The stream starts after the page's posts
// (`?after=` their last_event_id), and the browser's own reconnects send Last-Event-ID, so
// nothing is missed between the two or across a reconnect; posts are shown once each by id.
// A `reset` (the server no longer keeps what the page would need to catch up) starts again.
'use strict';

(() => {
  const list = document.getElementById('posts');
  const live = document.getElementById('live');
  const status = document.getElementById('status');
  const form = document.getElementById('post-form');
  const text = document.getElementById('text');
  const more = document.getElementById('more');
  const shown = new Map();
  let me = null;
  let older = null;

  const setLive = (state, words) => {
    document.body.dataset.live = state;
    live.textContent = words;
  };

  const item = (post) => {
    const li = document.createElement('li');
    li.dataset.id = String(post.id);
    const who = document.createElement('strong');
    who.textContent = post.author.username;
    const when = document.createElement('time');
    when.dateTime = post.created_at;
    when.textContent = new Date(post.created_at).toLocaleString();
    const body = document.createElement('p');
    body.textContent = post.text;
    if (me && (me.id === post.author.id || me.role === 'admin')) {
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'delete';
      del.textContent = 'Delete';
      del.addEventListener('click', () => remove(post.id));
      li.append(del);
    }
    li.append(who, when, body);
    return li;
  };

  // Newest first: a post goes before the first one older than it.
  const add = (post) => {
    if (shown.has(post.id)) return;
    const li = item(post);
    shown.set(post.id, li);
    const next = [...list.children].find((el) => Number(el.dataset.id) < post.id);
    list.insertBefore(li, next || null);
  };

  const drop = (id) => {
    const li = shown.get(id);
    if (li) li.remove();
    shown.delete(id);
  };

  const say = async (res) => {
    try {
      status.textContent = (await res.json()).error || `failed (${res.status})`;
    } catch {
      status.textContent = `failed (${res.status})`;
    }
  };

  async function remove(id) {
    const res = await fetch(`/api/posts/${id}`, { method: 'DELETE' });
    if (res.status === 204 || res.status === 404) drop(id);
    else await say(res);
  }

  async function page(before) {
    const query = before === null ? '' : `&before=${before}`;
    const res = await fetch(`/api/posts?limit=20${query}`);
    if (!res.ok) throw new Error(`posts: ${res.status}`);
    const body = await res.json();
    body.posts.forEach(add);
    older = body.next_before;
    more.hidden = older === null;
    return body;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = '';
    const res = await fetch('/api/posts', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: text.value }),
    });
    if (res.status === 201) {
      add(await res.json());
      text.value = '';
    } else {
      await say(res);
    }
  });

  more.addEventListener('click', () => page(older));

  let events = null;

  // The first page of posts, then the stream from just after it. Again from scratch on a
  // `reset`: the server no longer keeps the events this page would need to catch up.
  async function connect() {
    if (events) events.close();
    list.replaceChildren();
    shown.clear();
    const first = await page(null);
    events = new EventSource(`/api/events?after=${first.last_event_id}`);
    const mine = events;
    events.addEventListener('open', () => setLive('yes', 'live'));
    events.addEventListener('error', () => {
      if (mine.readyState === EventSource.CLOSED) setLive('no', 'offline: reload the page');
      else setLive('no', 'reconnecting…');
    });
    events.addEventListener('post', (e) => add(JSON.parse(e.data)));
    events.addEventListener('delete', (e) => drop(JSON.parse(e.data).id));
    events.addEventListener('reset', () => {
      setLive('no', 'catching up…');
      connect().catch(offline);
    });
  }

  const offline = (e) => {
    setLive('no', 'offline');
    status.textContent = String(e);
  };

  async function start() {
    const profile = await fetch('/api/profile');
    if (profile.status === 401) {
      location.href = '/?signin=required#signin';
      return;
    }
    me = (await profile.json()).user;
    await connect();
  }

  start().catch(offline);
})();
