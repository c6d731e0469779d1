namespace Confiture.TestServers;

/// <summary>
/// How the two throwaway servers differ, as production servers do: each in its own non-UTC time
/// zone (one with a half-hour offset, one with daylight saving) and date style, the source ready
/// for logical decoding, the target keeping statement statistics. Every test then runs under
/// settings that expose a conversion made on the wrong server or in the wrong zone.
/// </summary>
internal static class ServerRoles
{
    public const string SourceTimeZone = "America/New_York";

    public const string TargetTimeZone = "Asia/Kolkata";

    public static readonly IReadOnlyList<(string Name, string Value)> Source =
    [
        ("timezone", SourceTimeZone),
        ("datestyle", "SQL, DMY"),
        ("wal_level", "logical"),
        ("max_replication_slots", "20"),
        ("max_wal_senders", "20"),
    ];

    public static readonly IReadOnlyList<(string Name, string Value)> Target =
    [
        ("timezone", TargetTimeZone),
        ("datestyle", "ISO, MDY"),
        ("shared_preload_libraries", "pg_stat_statements"),
    ];

    /// <summary>The settings as postgresql.conf lines.</summary>
    public static string ConfigurationLines(IReadOnlyList<(string Name, string Value)> settings) =>
        string.Join('\n', settings.Select(s => $"{s.Name} = '{s.Value}'")) + "\n";

    /// <summary>The settings as arguments of the postgres command (for a container).</summary>
    public static string[] CommandArguments(IReadOnlyList<(string Name, string Value)> settings) =>
        [.. settings.SelectMany(s => new[] { "-c", $"{s.Name}={s.Value}" })];
}
