// nginx/nginx.docker.conf: nginx/nginx.conf.template rendered with the values
// of the docker compose stack, the file docker compose mounts. npm start
// renders the same template with its own values at every start.

import { DOCKER_NGINX_CONFIG_PATH, DOCKER_NGINX_VALUES, renderNginxConfig } from '../../src/stack/nginx.js';
import type { GeneratedFile } from './generated-file.js';

export const DOCKER_NGINX_FILE: GeneratedFile = {
  path: DOCKER_NGINX_CONFIG_PATH,
  what: 'the nginx configuration docker compose mounts',
  render: () => renderNginxConfig(DOCKER_NGINX_VALUES),
};
