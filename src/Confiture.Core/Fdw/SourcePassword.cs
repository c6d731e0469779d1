using System.Globalization;
using System.Text;
using Confiture.Core.Connections;

namespace Confiture.Core.Fdw;

/// <summary>
/// The source password the user mapping needs, found where Npgsql found it when this process
/// connected: the connection itself, else PGPASSWORD, else the password file (PGPASSFILE or the
/// user's default one). The target server cannot see this machine's environment or files, so
/// setup passes the password on the same way as a given one.
/// </summary>
internal static class SourcePassword
{
    /// <summary>The password and where it came from (for messages; never the password itself).</summary>
    public sealed record Found(string? Password, string Origin);

    public static Found Resolve(DatabaseEndpoint source)
    {
        if (source.Password is { Length: > 0 } given)
        {
            return new Found(given, "the source connection");
        }

        if (Environment.GetEnvironmentVariable("PGPASSWORD") is { Length: > 0 } fromEnvironment)
        {
            return new Found(fromEnvironment, "PGPASSWORD");
        }

        var file = PasswordFile();
        if (file is not null && File.Exists(file) && FromFile(file, source) is { } fromFile)
        {
            return new Found(fromFile, $"the password file {file}");
        }

        return new Found(null, file is null ? "the source connection and PGPASSWORD" : $"the source connection, PGPASSWORD and {file}");
    }

    private static string? PasswordFile()
    {
        if (Environment.GetEnvironmentVariable("PGPASSFILE") is { Length: > 0 } named)
        {
            return named;
        }

        if (OperatingSystem.IsWindows())
        {
            var appData = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData);
            return appData.Length == 0 ? null : Path.Combine(appData, "postgresql", "pgpass.conf");
        }

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length == 0 ? null : Path.Combine(home, ".pgpass");
    }

    /// <summary>The first line that matches, as libpq reads them: host:port:database:user:password, '*' for any, '\' escaping.</summary>
    private static string? FromFile(string path, DatabaseEndpoint source)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        var wanted = new[] { source.Host, source.Port.ToString(CultureInfo.InvariantCulture), source.Database, source.Username };
        foreach (var line in lines)
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var fields = Split(line);
            if (fields.Count < 5)
            {
                continue;
            }

            if (Enumerable.Range(0, 4).All(i => fields[i] == "*" || fields[i] == wanted[i]))
            {
                return fields[4];
            }
        }

        return null;
    }

    private static List<string> Split(string line)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\\' && i + 1 < line.Length)
            {
                field.Append(line[++i]);
            }
            else if (c == ':' && fields.Count < 4)
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(c);
            }
        }

        fields.Add(field.ToString());
        return fields;
    }
}
