using Npgsql;

namespace Confiture.Core.Sql;

/// <summary>
/// The session settings every conversion and every digest runs under, on both servers: the
/// target's TimeZone, DateStyle and IntervalStyle (so a timestamp becomes the same timestamptz, a
/// text the same date, whichever server converts it), and exact text for floats and bytea (so no
/// two different values can print, and hash, alike). Read once from the target per operation.
/// </summary>
public sealed record ConversionSettings(string TimeZone, string DateStyle, string IntervalStyle)
{
    /// <summary>Reads the target's settings, as its sessions get them (role and database settings included).</summary>
    internal static async Task<ConversionSettings> ReadAsync(NpgsqlConnection target, CancellationToken cancellationToken)
    {
        var rows = await SqlExecutor.ListAsync(target,
            "SELECT current_setting('TimeZone'), current_setting('DateStyle'), current_setting('IntervalStyle')",
            r => new ConversionSettings(r.GetString(0), r.GetString(1), r.GetString(2)), cancellationToken).ConfigureAwait(false);
        return rows[0];
    }

    /// <summary>Sets the settings for the rest of the current transaction (values as parameters, never spliced).</summary>
    internal async Task ApplyAsync(NpgsqlConnection connection, IOperationObserver observer, CancellationToken cancellationToken) =>
        await SqlExecutor.ExecuteAsync(connection, Statement, observer, cancellationToken, TimeZone, DateStyle, IntervalStyle).ConfigureAwait(false);

    private static readonly SqlStatement Statement = SqlStatement.Plain(
        "SELECT set_config('TimeZone', $1, true), set_config('DateStyle', $2, true), set_config('IntervalStyle', $3, true), " +
        "set_config('extra_float_digits', '3', true), set_config('bytea_output', 'hex', true)");

    /// <summary>How the settings read, for -WhatIf, -Verbose and the help.</summary>
    public override string ToString() =>
        $"TimeZone '{TimeZone}', DateStyle '{DateStyle}', IntervalStyle '{IntervalStyle}', extra_float_digits 3, bytea_output 'hex'";
}
