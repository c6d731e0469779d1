using Npgsql;

namespace Confiture.Core.Connections;

/// <summary>Translates between libpq's <c>sslmode</c> words and Npgsql's enum.</summary>
public static class SslModes
{
    /// <summary>Reads a libpq word (<c>verify-full</c>) or an Npgsql name (<c>VerifyFull</c>).</summary>
    public static SslMode Parse(string value) => value.Replace("-", string.Empty, StringComparison.Ordinal).ToLowerInvariant() switch
    {
        "disable" => SslMode.Disable,
        "allow" => SslMode.Allow,
        "prefer" => SslMode.Prefer,
        "require" => SslMode.Require,
        "verifyca" => SslMode.VerifyCA,
        "verifyfull" => SslMode.VerifyFull,
        _ => throw new ConfitureException(ConfitureErrorKind.InvalidConnectionString,
            $"'{value}' is not an sslmode. Use disable, allow, prefer, require, verify-ca or verify-full."),
    };

    /// <summary>The libpq word, for the options of a postgres_fdw server.</summary>
    public static string ToLibpq(SslMode mode) => mode switch
    {
        SslMode.Disable => "disable",
        SslMode.Allow => "allow",
        SslMode.Prefer => "prefer",
        SslMode.Require => "require",
        SslMode.VerifyCA => "verify-ca",
        SslMode.VerifyFull => "verify-full",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown sslmode."),
    };
}
