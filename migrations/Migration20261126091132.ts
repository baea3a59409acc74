import { Migration } from '@mikro-orm/migrations';

/** The initial schema of the product design (users … analytics_events), generated from the entities. */

export class Migration20261126091132 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "users" ("id" uuid not null, "email" varchar(255) not null, "name" varchar(255) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "users_pkey" primary key ("id"));`);
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);

    this.addSql(`create table "destinations" ("id" uuid not null, "name" varchar(255) not null, "description" text null, "latitude" numeric(10,8) not null, "longitude" numeric(11,8) not null, "address" varchar(255) null, "is_active" boolean not null default true, "arrival_radius_m" numeric(6,2) not null default 15, "created_by" uuid null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "destinations_pkey" primary key ("id"));`);

    this.addSql(`create table "navigation_sessions" ("id" uuid not null, "user_id" uuid not null, "destination_id" uuid not null, "start_latitude" numeric(10,8) null, "start_longitude" numeric(11,8) null, "end_latitude" numeric(10,8) null, "end_longitude" numeric(11,8) null, "status" text check ("status" in ('active', 'completed', 'cancelled')) not null default 'active', "started_at" timestamptz not null, "completed_at" timestamptz null, "total_distance" numeric(10,2) null, "share_token_hash" varchar(64) null, "share_token_expires_at" timestamptz null, "last_seq" bigint not null default -1, constraint "navigation_sessions_pkey" primary key ("id"));`);
    this.addSql(`alter table "navigation_sessions" add constraint "navigation_sessions_share_token_hash_unique" unique ("share_token_hash");`);
    this.addSql(`create index "idx_nav_sessions_user_started" on "navigation_sessions" ("user_id", "started_at");`);

    this.addSql(`create table "navigation_points" ("id" uuid not null, "session_id" uuid not null, "seq" bigint not null, "latitude" numeric(10,8) not null, "longitude" numeric(11,8) not null, "heading" numeric(5,2) null, "accuracy" numeric(7,2) null, "distance_to_target" numeric(10,2) null, "bearing" numeric(5,2) null, "relative_angle" numeric(5,2) null, "recorded_at" timestamptz not null, constraint "navigation_points_pkey" primary key ("id"));`);
    this.addSql(`create index "idx_nav_points_session_time" on "navigation_points" ("session_id", "recorded_at");`);
    this.addSql(`alter table "navigation_points" add constraint "uq_nav_points_session_seq" unique ("session_id", "seq");`);

    this.addSql(`create table "feedback" ("id" uuid not null, "session_id" uuid not null, "user_id" uuid not null, "rating" int not null, "comment" text null, "created_at" timestamptz not null, constraint "feedback_pkey" primary key ("id"), constraint feedback_rating_check check (rating >= 1 and rating <= 5));`);
    this.addSql(`alter table "feedback" add constraint "idx_feedback_session" unique ("session_id");`);

    this.addSql(`create table "analytics_events" ("id" uuid not null, "session_id" uuid not null, "event_type" varchar(255) not null, "event_data" jsonb null, "recorded_at" timestamptz not null, constraint "analytics_events_pkey" primary key ("id"));`);
    this.addSql(`create index "idx_analytics_session_type_time" on "analytics_events" ("session_id", "event_type", "recorded_at");`);

    this.addSql(`alter table "destinations" add constraint "destinations_created_by_foreign" foreign key ("created_by") references "users" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "navigation_sessions" add constraint "navigation_sessions_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade;`);
    this.addSql(`alter table "navigation_sessions" add constraint "navigation_sessions_destination_id_foreign" foreign key ("destination_id") references "destinations" ("id") on update cascade;`);

    this.addSql(`alter table "navigation_points" add constraint "navigation_points_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade;`);

    this.addSql(`alter table "feedback" add constraint "feedback_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade;`);
    this.addSql(`alter table "feedback" add constraint "feedback_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade;`);

    this.addSql(`alter table "analytics_events" add constraint "analytics_events_session_id_foreign" foreign key ("session_id") references "navigation_sessions" ("id") on update cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "analytics_events" cascade;`);
    this.addSql(`drop table if exists "feedback" cascade;`);
    this.addSql(`drop table if exists "navigation_points" cascade;`);
    this.addSql(`drop table if exists "navigation_sessions" cascade;`);
    this.addSql(`drop table if exists "destinations" cascade;`);
    this.addSql(`drop table if exists "users" cascade;`);
  }

}
