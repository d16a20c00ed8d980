declare namespace time {
  interface Tools {
    /** Get current time in a specific timezone */
    get_current_time(args: GetCurrentTimeInput): Promise<GetCurrentTimeOutput>;
    /** Convert time between timezones */
    convert_time(args: ConvertTimeInput): Promise<ConvertTimeOutput>;
  }
  interface GetCurrentTimeInput {
    /** IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'UTC' as local timezone if no timezone provided by the user. */
    timezone: string;
  }
  interface GetCurrentTimeOutput { timezone: string; datetime: string; day_of_week: string; is_dst: boolean }
  interface ConvertTimeInput {
    /** Source IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'UTC' as local timezone if no source timezone provided by the user. */
    source_timezone: string;
    /** Time to convert in 24-hour format (HH:MM) */
    time: string;
    /** Target IANA timezone name (e.g., 'Asia/Tokyo', 'America/San_Francisco'). Use 'UTC' as local timezone if no target timezone provided by the user. */
    target_timezone: string;
  }
  interface ConvertTimeOutput { source: TimeResult; target: TimeResult; time_difference: string }
  interface TimeResult { timezone: string; datetime: string; day_of_week: string; is_dst: boolean }
}
