import { accountDeletedSchema, exportLineSchema } from '../../contracts/http.js';
import { ndjsonExport } from './export.js';
import type { ApiStore, DeletedAccountRow } from './ports.js';
import { ApiProblem } from './problem.js';
import { defineRoute, type Caller, type RouteSpec } from './route.js';

const TAG = 'account';

export interface MeRouteOptions {
  /** Told after an account was deleted, with its sessions (the realtime layer cuts their sockets). */
  onAccountDeleted?: (userId: string, deleted: DeletedAccountRow) => void;
}

function userOf(caller: Caller): string {
  if (caller.kind !== 'user') throw new ApiProblem('UNAUTHORIZED', 'a user token is required');
  return caller.userId;
}

/** The caller's own account: the export of everything that is theirs, and its deletion. */
export function meRoutes(store: ApiStore, options: MeRouteOptions): RouteSpec[] {
  return [
    defineRoute({
      operationId: 'exportMyData',
      method: 'GET',
      url: '/api/me/export',
      tag: TAG,
      auth: 'user',
      summary: 'Everything of the caller’s, as NDJSON (streamed)',
      description:
        'One JSON object per line (`application/x-ndjson`), told apart by `type`: `export` (format and time), `user` ' +
        '(the profile), the `destination`s the user created, then per session, oldest first, `session`, its `point`s in ascending seq, its analytics `event`s ' +
        'and its `feedback`, and last `end` with the counts — a download without the `end` line is incomplete. Only ' +
        'committed points are included. Streamed page by page, so a long history never sits in memory.',
      responses: { 200: { description: 'the export, one `ExportLine` per line', schema: exportLineSchema, contentType: 'application/x-ndjson' } },
      async handler({ caller, request, reply }) {
        const userId = userOf(caller);
        const user = await store.getUser(userId);
        if (!user) throw new ApiProblem('UNAUTHORIZED', 'the token’s user does not exist');
        const stream = ndjsonExport(store, user);
        stream.once('error', (err) => request.log.error({ err }, 'data export failed mid-stream'));
        return reply
          .type('application/x-ndjson; charset=utf-8')
          .header('content-disposition', `attachment; filename="arway-export-${user.id}.ndjson"`)
          .header('cache-control', 'no-store')
          .send(stream);
      },
    }),
    defineRoute({
      operationId: 'deleteMyAccount',
      method: 'DELETE',
      url: '/api/me',
      tag: TAG,
      auth: 'user',
      summary: 'Delete the caller’s account and everything that is theirs (cannot be undone)',
      description:
        'Deletes the user, their sessions (active ones included) with every point, analytics event and feedback; ' +
        'destinations they created stay for everyone else, without a creator. Their sockets, and every socket ' +
        'following one of their sessions (observers, share links), get `navigation:error` UNAUTHORIZED and are ' +
        'disconnected, on every instance; the token stops working. Nothing is kept: export first ' +
        '(`GET /api/me/export`) to keep a copy. Backups taken before the deletion still hold the data until they expire.',
      responses: { 200: { description: 'deleted; what was removed', schema: accountDeletedSchema } },
      async handler({ caller, request }) {
        const userId = userOf(caller);
        const deleted = await store.deleteAccount(userId);
        if (!deleted) throw new ApiProblem('UNAUTHORIZED', 'the token’s user does not exist');
        options.onAccountDeleted?.(userId, deleted);
        const { sessions, points, events, feedback } = deleted;
        request.log.info({ userId, sessions, points, events, feedback }, 'account deleted');
        return { deleted: { sessions, points, events, feedback } };
      },
    }),
  ];
}
