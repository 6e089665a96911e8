// The shapes of what the server sends the pages: REST answers (server/openapi.py, which is the reference)
// and Socket.IO events (signaling/messages.py, docs/protocol.md). Only types: the browser never loads this.
// The pages read these through `import("../types/api").Name` in their JSDoc; a field the server drops or
// renames must change here too, and tsc then shows every page that reads it.

/** A six-digit GB/T 2260 region code. */
export type Region = string;
/** An ISO 8601 time as the REST API writes it (China time, +08:00). */
export type IsoTime = string;

export interface ErrorInfo {
  code: string;
  message?: string;
}

// ---- REST ----

/** GET /api/matters, one entry. */
export interface Matter {
  code: string;
  name: { zh: string; en: string };
  skill: string;
  provinces: Region[];
}

export interface TimelineEntry {
  at: IsoTime;
  event: string;
  /** `citizen:<id>`, `clerk:<user id>`, `supervisor:<user id>` or `system`. */
  actor: string;
  /** Free-form per event: the page reads the fields it knows and checks their types. */
  detail: Record<string, any> | null;
}

export interface AttachmentInfo {
  attachment_id: string;
  case_id: string;
  content_type: string;
  bytes: number;
  sha256: string;
  uploaded_by: string;
  uploaded_at: IsoTime;
}

/** One recorded file: one track of one side, from one connection to the recorder. */
export interface RecordingInfo {
  recording_id: string;
  case_id: string;
  side: "citizen" | "clerk";
  kind: "audio" | "video" | "screen";
  state: "recording" | "complete" | "interrupted";
  started_at: IsoTime;
  ended_at: IsoTime | null;
  duration_s: number | null;
  frames: number | null;
  bytes: number | null;
  sha256: string | null;
  container: string;
  codec: string;
}

/** GET /api/cases/{id}. */
export interface CaseRecord {
  case_id: string;
  ticket_id: string;
  matter_code: string;
  skill: string;
  origin_region: Region;
  target_region: Region;
  channel: string;
  kiosk_id: string | null;
  priority: string;
  language: string;
  clerk_id: string | null;
  requested_at: IsoTime;
  offered_at: IsoTime | null;
  answered_at: IsoTime | null;
  connected_at: IsoTime | null;
  ended_at: IsoTime | null;
  outcome: string | null;
  notes: string | null;
  rating: { level: number; comment: string | null } | null;
  wrapped_at: IsoTime | null;
  offers: number;
  answers: number;
  transfers: number;
  followup_closed_at: IsoTime | null;
  attachments: AttachmentInfo[];
  recording_consent: boolean | null;
  recordings: RecordingInfo[];
  timeline: TimelineEntry[];
}

/** GET /api/followups, one entry: the 差评 follow-up of a case rated 1 or 2. */
export interface Followup {
  case_id: string;
  rating: number;
  comment: string | null;
  target_region: Region;
  matter_code: string;
  opened_at: IsoTime;
  complexity: string;
  contact_due: IsoTime;
  fix_due: IsoTime;
  state: string;
  overdue: boolean;
  history: { at: IsoTime; action: string; by: string; note: string; complexity?: string }[];
}

/** The service-level figures of a set of requests (docs/sla.md); a rate is null with nothing to divide by. */
export interface SlaFigures {
  requests: number;
  answered: number;
  answered_within_sla: number;
  abandoned: number;
  short_abandoned: number;
  service_level: number | null;
  asa_s: number | null;
  abandon_rate: number | null;
  aht_s: number | null;
  resolution_rate: number | null;
  rated: number;
  positive_rate: number | null;
  expired: number;
  offers: number;
  agent_answer_rate: number | null;
  transfers: number;
  complaints: number;
  followups_open: number;
  /** Only in GET /api/sla, and only for some groupings. */
  occupancy?: number | null;
}

/** GET /api/sla. */
export interface SlaReport {
  from: IsoTime;
  to: IsoTime;
  sla_s: number;
  total: SlaFigures;
  groups: (SlaFigures & { key: Record<string, string | null> })[];
  buckets: (SlaFigures & { start: IsoTime })[];
}

/** GET /api/staffing. */
export interface Staffing {
  arrivals_per_hour: number;
  aht_s: number;
  sla_s: number;
  goal: number;
  offered_load: number;
  clerks_needed: number;
  clerks: number;
  stable: boolean;
  service_level: number;
  asa_s: number | null;
  occupancy: number;
  p_wait: number;
  simulated?: {
    hours: number;
    seed: number;
    service_level: number | null;
    asa_s: number | null;
    occupancy: number;
    arrivals: number;
    answered: number;
  } | null;
}

// ---- the /supervisor namespace ----

export interface WaitingEntry {
  ticket_id: string;
  case_id: string;
  region: Region;
  skill: string;
  matter_code: string;
  origin_region: Region;
  channel: string;
  waited_s: number;
  state?: "waiting" | "offered";
}

export interface QueueEntry {
  region: Region;
  skill: string;
  waiting: number;
  offered: number;
  oldest_wait_s: number;
  staffed: number;
  service_level_15m: number | null;
  requests_15m: number;
  arrivals_1h: number;
  needed: number | null;
}

export interface WallClerk {
  clerk_id: string;
  display_name: string;
  region: Region;
  status: string;
  case_id: string | null;
  since: number | null;
  in_status_s: number | null;
  skills?: string[];
}

/** The `dashboard` event: the wall of the supervisor's scope, once a second. */
export interface Dashboard {
  /** Seconds since the epoch. */
  at: number;
  /** `delta` or a province code. */
  scope: string;
  provinces: Region[];
  sla_s: number;
  prebreach_s: number;
  goal: number;
  queues: QueueEntry[];
  clerks: WallClerk[];
  clerks_by_status: Record<string, number>;
  /** Left out of a scope's view (signaling/wall.py). */
  open_cases?: number;
  waiting: WaitingEntry[];
  waiting_total: number;
  past_prebreach: number;
  today: SlaFigures & { sla_s: number; goal: number };
  chart: {
    bucket_s: number;
    buckets: { start: number; requests: number; answered: number; service_level: number | null }[];
  };
}

/** The `alert` event (signaling/messages.py `alert`). */
export interface Alert {
  kind: "pre_breach" | "breach" | "service_level";
  at: IsoTime;
  target_region: Region;
  skill: string;
  ticket_id?: string;
  case_id?: string;
  waited_s?: number;
  service_level?: number;
  counted?: number;
  window_s?: number;
  goal?: number;
}

// ---- the /clerk namespace ----

/** `session`: who the clerk is, once connected. */
export interface ClerkSession {
  clerk: { id: string; display_name: string; region: Region; skills: string[] };
  ice_servers: RTCIceServer[];
  recording: string;
}

/** `offer`: a waiting citizen offered to this clerk. */
export interface Offer {
  ticket_id: string;
  case_id: string;
  matter_code: string;
  matter_name: string;
  matter_name_en: string;
  origin_region: Region;
  target_region: Region;
  channel: string;
  priority: string;
  waited_s: number;
  expires_in_s: number;
}

/** `matched` (to the clerk): the case starts. */
export interface ClerkMatched {
  ticket_id: string;
  case_id: string;
  citizen: { origin_region: Region | null; channel: string | null };
  matter_code: string | null;
  ice_servers: RTCIceServer[];
  resumed?: boolean;
}

/** `case_ended`. */
export interface CaseEnded {
  case_id: string;
  outcome: string;
  ticket_id?: string;
  resumed?: boolean;
}

/** `consent` (to the clerk): the citizen's answer about recording. */
export interface Consent {
  case_id: string;
  recording: boolean;
  policy: string;
  at: IsoTime;
}

/** `chat`: a line from the other side. */
export interface ChatLine {
  case_id: string;
  text: string;
  from: "citizen" | "clerk";
  at: IsoTime;
}

// ---- the /citizen namespace ----

/** `session` (to the citizen): who the page is, once connected. */
export interface CitizenSession {
  citizen_id: string;
  resume_token: string;
  api_token: string;
  origin_region: Region;
  channel: string;
  ice_servers: RTCIceServer[];
  recording: { policy: string; keep_days: number };
  /** On a resumed connection, what the citizen comes back to; null on a new one. */
  resumed_to: "waiting" | "case" | "none" | null;
}

/** `queue_update`: the citizen's place in the queue. `estimated_wait_s` null: nobody on shift to estimate from. */
export interface QueueUpdate {
  ticket_id: string;
  position: number;
  estimated_wait_s: number | null;
}

/** `matched` (to the citizen): a clerk answered. */
export interface CitizenMatched {
  ticket_id: string;
  case_id: string;
  clerk: { display_name: string; region: Region };
  ice_servers: RTCIceServer[];
  resumed?: boolean;
}

/** `transferred` and `requeued`: the case waits again, first in line (of another queue when transferred). */
export interface Transferred {
  ticket_id: string;
  case_id: string;
  target_region: Region;
  skill: string;
  note: string;
}

/** `clerk_away`: the clerk's console dropped mid-call; it has `grace_s` to come back. */
export interface ClerkAway {
  case_id: string;
  grace_s: number;
}

/** `GET /api/clerk/day`: the logged-in clerk's cases of the current China day. */
export interface ClerkDay {
  date: string;
  cases: number;
  ended: number;
  resolved: number;
  handle_s_avg: number | null;
  ratings: { count: number; average: number | null; poor: number };
}

/** A matter's guidance in the catalog (`GET /api/matters/{code}`): what to bring, how it goes, how long it takes. */
export interface Guidance {
  materials: { zh: string; en?: string }[];
  steps: { zh: string; en?: string }[];
  time_limit?: { zh: string; en?: string } | null;
}
