/** The console: a sign-in, then the pages behind a navigation bar. */
import { render } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { useRoute, type Route } from './router.js';
import { SignIn } from './pages/signIn.js';
import { UsersPage } from './pages/users.js';
import { UserPage } from './pages/user.js';
import { EventsPage } from './pages/events.js';
import { TailPage } from './pages/tail.js';
import { StreamPage } from './pages/stream.js';
import { ProjectionsPage } from './pages/projections.js';
import { SettingsPage } from './pages/settings.js';

const NAV: { page: Route['page'][]; href: string; label: string }[] = [
  { page: ['users', 'user'], href: '#/users', label: 'Users' },
  { page: ['events', 'stream'], href: '#/events', label: 'Events' },
  { page: ['tail'], href: '#/tail', label: 'Live tail' },
  { page: ['projections'], href: '#/projections', label: 'Projections' },
  { page: ['settings'], href: '#/settings', label: 'Settings' },
];

const TITLES: Record<Route['page'], string> = {
  users: 'Users', user: 'User', events: 'Events', tail: 'Live tail', stream: 'Stream', projections: 'Projections', settings: 'Settings',
};

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'users': return <UsersPage query={route.query} />;
    case 'user': return <UserPage id={route.id} />;
    case 'events': return <EventsPage types={route.types} stream={route.stream} from={route.from} />;
    case 'tail': return <TailPage />;
    case 'stream': return <StreamPage stream={route.stream} />;
    case 'projections': return <ProjectionsPage />;
    case 'settings': return <SettingsPage />;
  }
}

function App() {
  const [signedIn, setSignedIn] = useState(api.user !== null);
  const route = useRoute();
  useEffect(() => api.onChange(setSignedIn), []);
  useEffect(() => {
    document.title = signedIn ? `${TITLES[route.page]} · authstream console` : 'Sign in · authstream console';
  }, [signedIn, route.page]);
  // Focus the main heading after a page change (not on the first load), so keyboard and
  // screen-reader users land on the new page's content rather than on the link they used.
  const loaded = useRef(false);
  useLayoutEffect(() => {
    if (loaded.current) (document.querySelector('main h1') as HTMLElement | null)?.focus({ preventScroll: true });
    loaded.current = true;
  }, [route, signedIn]);

  if (!signedIn) return <SignIn />;
  const user = api.user;
  return (
    <>
      {/* The hash is the route: the skip link moves focus itself instead of changing it. */}
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById('main')?.focus();
      }}>Skip to content</a>
      <header class="bar">
        <span class="brand">authstream console</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <a href={item.href} aria-current={item.page.includes(route.page) ? 'page' : undefined}>{item.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <span class="muted">{user?.email ?? user?.phone}</span>{' '}
          <button type="button" class="secondary" onClick={() => void api.signOut()}>Sign out</button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
