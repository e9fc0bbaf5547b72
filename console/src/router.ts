/** Hash routes (`#/users/<id>`): the service serves one page; a reload keeps the place. */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'users'; query: string }
  | { page: 'user'; id: string }
  | { page: 'events'; types: string; stream: string; from: string }
  | { page: 'tail' }
  | { page: 'stream'; stream: string }
  | { page: 'projections' }
  | { page: 'settings' };

export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(search);
  const parts = path.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  switch (parts[0]) {
    case 'users':
      return parts[1] ? { page: 'user', id: parts[1] } : { page: 'users', query: params.get('query') ?? '' };
    case 'events':
      return { page: 'events', types: params.get('types') ?? '', stream: params.get('stream') ?? '', from: params.get('from') ?? '' };
    case 'tail':
      return { page: 'tail' };
    case 'streams':
      return parts[1] ? { page: 'stream', stream: parts[1] } : { page: 'events', types: '', stream: '', from: '' };
    case 'projections':
      return { page: 'projections' };
    case 'settings':
      return { page: 'settings' };
    default:
      return { page: 'users', query: '' };
  }
}

export function href(path: string, params: Record<string, string> = {}): string {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString();
  return `#/${path}${search ? `?${search}` : ''}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export function go(path: string, params: Record<string, string> = {}): void {
  location.hash = href(path, params);
}
