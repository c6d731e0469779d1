namespace Confiture.TestServers;

/// <summary>Quoting for the few statements (DDL) that cannot take bind parameters.</summary>
internal static class SqlText
{
    public static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string Literal(string value)
    {
        var quoted = "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

        // An E'' literal reads backslashes as escapes whatever standard_conforming_strings says,
        // so doubling them there is correct on any server configuration.
        return value.Contains('\\', StringComparison.Ordinal)
            ? "E" + quoted.Replace("\\", "\\\\", StringComparison.Ordinal)
            : quoted;
    }
}
