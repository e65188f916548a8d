/** One app node behind the load balancer. */
export interface UpstreamApp {
  /** The app node's `route` option (the route field in its session ids). */
  route: string;
  /** `host:port` nginx connects to. */
  address: string;
}

export interface NginxConfigOptions {
  apps: UpstreamApp[];
  /** `route`: sticky by the route inside the signed session cookie, failing over to the others; `ip_hash`: by client address. */
  sticky: 'route' | 'ip_hash';
  listen: string;
  /** Session cookie name. */
  cookieName?: string;
  /** Extra `location` for the demo's control API (`/_demo/`), proxied to this address. */
  controlAddress?: string;
  /** For a standalone nginx run by the demo: prefix-relative pid, logs and temp paths. */
  standalone?: { prefix: string; runAsRoot: boolean };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * nginx configuration for a cluster of app nodes. With `sticky: 'route'` nginx reads the route
 * from the session cookie `s:<id>.<route>.<signature>` (URL-encoded: `s%3A...`): it is the
 * second-to-last dot-separated field. Each route has its own upstream group where its node is
 * primary and the others are `backup`, so a dead node's users fail over to a live one, which
 * takes the session over and re-sends the cookie with its own route.
 */
export function nginxConfig(options: NginxConfigOptions): string {
  const cookie = escapeRegex(options.cookieName ?? 'connect.sid');
  const lines: string[] = [];
  const standalone = options.standalone;
  if (standalone) {
    if (standalone.runAsRoot) lines.push('user root;');
    lines.push('worker_processes 1;', `pid ${standalone.prefix}/nginx.pid;`, `error_log ${standalone.prefix}/error.log warn;`);
  }
  lines.push('events { worker_connections 1024; }', '', 'http {');
  if (standalone) {
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      lines.push(`  ${temp}_temp_path ${standalone.prefix}/${temp}_temp;`);
    }
    lines.push(`  access_log off;`);
  }
  const all = options.apps.map((app) => `    server ${app.address} max_fails=1 fail_timeout=5s;`);
  if (options.sticky === 'ip_hash') {
    lines.push('  upstream apps {', '    ip_hash;', ...all, '  }');
  } else {
    lines.push(
      '  # The route is the second-to-last dot field of the signed cookie value s:<id>.<route>.<signature>.',
      '  map $http_cookie $session_route {',
      '    default "";',
      `    "~(^|;\\s*)${cookie}=s%3A[^.;]+\\.(?<route>[A-Za-z0-9_-]+)\\.[^.;]+" $route;`,
      '  }',
      '  map $session_route $session_upstream {',
      '    default apps;',
      ...options.apps.map((app) => `    ${app.route} route_${app.route};`),
      '  }',
      '  upstream apps {',
      ...all,
      '  }',
    );
    for (const app of options.apps) {
      lines.push(`  upstream route_${app.route} {`);
      for (const other of options.apps) {
        lines.push(`    server ${other.address}${other === app ? ' max_fails=1 fail_timeout=5s' : ' backup'};`);
      }
      lines.push('  }');
    }
  }
  const upstream = options.sticky === 'ip_hash' ? 'apps' : '$session_upstream';
  lines.push(
    '  server {',
    `    listen ${options.listen};`,
    '    proxy_http_version 1.1;',
    '    proxy_set_header Connection "";',
    '    proxy_set_header Host $host;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '    proxy_set_header X-Forwarded-Proto $scheme;',
    '    proxy_connect_timeout 1s;',
    '    proxy_next_upstream error timeout http_502;',
    '    proxy_next_upstream_tries 3;',
  );
  if (options.controlAddress) {
    lines.push('    location /_demo/ {', `      proxy_pass http://${options.controlAddress};`, '    }');
  }
  lines.push('    location / {', `      proxy_pass http://${upstream};`, '      add_header X-Load-Balancer nginx always;', '    }', '  }', '}', '');
  return lines.join('\n');
}
