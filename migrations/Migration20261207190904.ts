import { Migration } from '@mikro-orm/migrations';

/**
 * Data lifecycle (issue 14): a session's points, analytics events and feedback go with it
 * (ON DELETE CASCADE). Users stay protected (a user with sessions cannot be deleted by accident;
 * account deletion removes the sessions first) and destinations keep `created_by ON DELETE SET
 * NULL`. Retention and account deletion delete points in bounded batches themselves; the cascade
 * is the guarantee that nothing is left behind (a point committed between two batches goes with
 * its session).
 */

export class Migration20261207190904 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "navigation_points" drop constraint "navigation_points_session_id_foreign";`);

    this.addSql(`alter table "feedback" drop constraint "feedback_session_id_foreign";`);

    this.addSql(`alter table "analytics_events" drop constraint "analytics_events_session_id_foreign";`);

    this.addSql(`alter table "navigation_points" add constraint "navigation_points_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "feedback" add constraint "feedback_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "analytics_events" add constraint "analytics_events_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "analytics_events" drop constraint "analytics_events_session_id_foreign";`);

    this.addSql(`alter table "feedback" drop constraint "feedback_session_id_foreign";`);

    this.addSql(`alter table "navigation_points" drop constraint "navigation_points_session_id_foreign";`);

    this.addSql(`alter table "analytics_events" add constraint "analytics_events_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade on delete no action;`);

    this.addSql(`alter table "feedback" add constraint "feedback_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade on delete no action;`);

    this.addSql(`alter table "navigation_points" add constraint "navigation_points_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade on delete no action;`);
  }

}
