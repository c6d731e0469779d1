using System.Globalization;
using Npgsql;

namespace Confiture.Core.Connections;

/// <summary>
/// Reads the two forms a DBA pastes: Npgsql/libpq keyword strings (<c>Host=...;Username=...</c>) and
/// libpq URIs (<c>postgresql://user:pass@host:5432/db?sslmode=require</c>).
/// </summary>
public static class ConnectionStringParser
{
    /// <summary>Parses either form into a builder.</summary>
    public static NpgsqlConnectionStringBuilder Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw Invalid("The connection string is empty.");
        }

        var text = connectionString.Trim();
        if (text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
            || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase))
        {
            return ParseUri(text);
        }

        try
        {
            return new NpgsqlConnectionStringBuilder(text);
        }
#pragma warning disable CA1031 // Whatever Npgsql throws, its message may quote the string, and so the password.
        catch (Exception)
#pragma warning restore CA1031
        {
            // Neither the keyword nor the value is named, nor the original error kept: a password
            // with an unquoted ';' turns its own tail into the "unknown keyword".
            throw Invalid(
                "The connection string is not valid: a keyword is unknown, a value has the wrong type, or a quote is not closed.",
                recommendedAction: "Check each Keyword=value pair; put a value that holds ';', '=' or a quote in quotes (Password='a;b', doubling a quote inside), or use -Credential.");
        }
    }

    private static NpgsqlConnectionStringBuilder ParseUri(string uri)
    {
        var rest = uri[(uri.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var builder = new NpgsqlConnectionStringBuilder();

        // User info first, up to the last '@': a password with an unencoded '?', '/' or '#' must not
        // be mistaken for the host, path or query (and so never echoed in an error).
        var at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = rest[..at];
            rest = rest[(at + 1)..];
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0)
            {
                builder.Username = Decode(userInfo[..colon]);
                builder.Password = Decode(userInfo[(colon + 1)..]);
            }
            else
            {
                builder.Username = Decode(userInfo);
            }
        }

        var fragment = rest.IndexOf('#', StringComparison.Ordinal);
        if (fragment >= 0)
        {
            rest = rest[..fragment];
        }

        var query = string.Empty;
        var questionMark = rest.IndexOf('?', StringComparison.Ordinal);
        if (questionMark >= 0)
        {
            query = rest[(questionMark + 1)..];
            rest = rest[..questionMark];
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = slash >= 0 ? rest[..slash] : rest;
        if (slash >= 0 && slash < rest.Length - 1)
        {
            builder.Database = Decode(rest[(slash + 1)..]);
        }

        if (authority.Length > 0)
        {
            SetHosts(builder, authority);
        }

        var position = 0;
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            position++;
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Decode(equals >= 0 ? pair[..equals] : pair);
            var value = equals >= 0 ? Decode(pair[(equals + 1)..]) : string.Empty;
            ApplyUriParameter(builder, key, value, position);
        }

        return builder;
    }

    private static void SetHosts(NpgsqlConnectionStringBuilder builder, string authority)
    {
        var parts = authority.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(SplitHostPort).ToList();
        if (parts.Count == 1)
        {
            builder.Host = parts[0].Host;
            if (parts[0].Port is { } port)
            {
                builder.Port = port;
            }

            return;
        }

        // Several hosts: Npgsql takes each with its own port in one list.
        builder.Host = string.Join(',', parts.Select(p => p.Port is null ? p.Host : $"{p.Host}:{p.Port}"));
    }

    private static (string Host, int? Port) SplitHostPort(string part)
    {
        string host;
        string? portText = null;
        if (part.StartsWith('['))
        {
            var close = part.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw Invalid("The URI has an unclosed '[' in its host.");
            }

            host = part[1..close];
            if (close + 1 < part.Length && part[close + 1] == ':')
            {
                portText = part[(close + 2)..];
            }
        }
        else
        {
            var colon = part.LastIndexOf(':');
            host = colon >= 0 ? part[..colon] : part;
            portText = colon >= 0 ? part[(colon + 1)..] : null;
        }

        if (portText is null || portText.Length == 0)
        {
            return (Decode(host), null);
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            // Not repeated: without an '@' this "port" is the password.
            throw Invalid("The URI's port is not a number from 1 to 65535.",
                recommendedAction: "Check the host:port part; percent-encode a '@', ':', '/' or '?' in the user name or password (%40, %3A, %2F, %3F).");
        }

        return (Decode(host), port);
    }

    private static void ApplyUriParameter(NpgsqlConnectionStringBuilder builder, string key, string value, int position)
    {
        switch (key.ToLowerInvariant())
        {
            case "host":
                builder.Host = value;
                break;
            case "port":
                builder.Port = ParseInt(key, value);
                break;
            case "dbname":
                builder.Database = value;
                break;
            case "user":
                builder.Username = value;
                break;
            case "password":
                builder.Password = value;
                break;
            case "sslmode":
                builder.SslMode = ParseSslMode(value);
                break;
            case "sslrootcert":
                builder.RootCertificate = value;
                break;
            case "sslcert":
                builder.SslCertificate = value;
                break;
            case "sslkey":
                builder.SslKey = value;
                break;
            case "connect_timeout":
                builder.Timeout = ParseInt(key, value);
                break;
            case "application_name":
                builder.ApplicationName = value;
                break;
            case "options":
                builder.Options = value;
                break;
            case "target_session_attrs":
                builder.TargetSessionAttributes = value;
                break;
            default:
                // The name is not repeated: an unencoded '&' in a password makes its tail a "parameter".
                throw Invalid($"Parameter {position} of the URI's query is not supported.",
                    recommendedAction: "Use only host, port, dbname, user, password, sslmode, sslrootcert, sslcert, sslkey, connect_timeout, application_name, options, target_session_attrs; percent-encode '&', '=' and '#' in values (%26, %3D, %23).");
        }
    }

    private static int ParseInt(string key, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw Invalid($"The URI parameter '{key}' must be a whole number.");

    private static Npgsql.SslMode ParseSslMode(string value)
    {
        try
        {
            return SslModes.Parse(value);
        }
        catch (ConfitureException)
        {
            throw Invalid("The URI's sslmode is not one of disable, allow, prefer, require, verify-ca, verify-full.");
        }
    }

    private static string Decode(string text)
    {
        try
        {
            return Uri.UnescapeDataString(text);
        }
        catch (UriFormatException)
        {
            throw Invalid("The URI has a malformed percent-encoding.");
        }
    }

    /// <summary>No inner exception, ever: what the parsers below Confiture say may quote the string.</summary>
    private static ConfitureException Invalid(string message, string? recommendedAction = null) =>
        new(ConfitureErrorKind.InvalidConnectionString, message,
            recommendedAction: recommendedAction ?? "Use a keyword string (Host=...;Port=...;Database=...;Username=...) or a URI (postgresql://user@host:port/database).");
}
