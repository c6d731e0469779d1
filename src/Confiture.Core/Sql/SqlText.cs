using System.Text;

namespace Confiture.Core.Sql;

/// <summary>
/// Quoting for the few places where PostgreSQL takes no bind parameter (identifiers, DDL options).
/// Everything else is sent as a parameter.
/// </summary>
public static class SqlText
{
    /// <summary>Quotes an identifier so that any name, however hostile, stays a name.</summary>
    public static string Identifier(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        RejectNul(name, "identifier");
        return "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>A schema-qualified, quoted name.</summary>
    public static string Qualified(string schema, string name) => Identifier(schema) + "." + Identifier(name);

    /// <summary>
    /// Quotes a string literal for DDL, which takes no parameters. An escape string is used when the
    /// value holds a backslash, so the result is right whatever <c>standard_conforming_strings</c> says.
    /// </summary>
    public static string Literal(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        RejectNul(value, "value");
        var quoted = value.Replace("'", "''", StringComparison.Ordinal);
        if (!value.Contains('\\', StringComparison.Ordinal))
        {
            return "'" + quoted + "'";
        }

        return "E'" + quoted.Replace("\\", "\\\\", StringComparison.Ordinal) + "'";
    }

    /// <summary>A comma-separated list of quoted identifiers.</summary>
    public static string IdentifierList(IEnumerable<string> names)
    {
        var builder = new StringBuilder();
        foreach (var name in names)
        {
            if (builder.Length > 0)
            {
                builder.Append(", ");
            }

            builder.Append(Identifier(name));
        }

        return builder.ToString();
    }

    /// <summary>Refuses a NUL character, which PostgreSQL accepts in no name and no text.</summary>
    internal static void RejectNul(string text, string what)
    {
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            throw new ConfitureException(
                ConfitureErrorKind.InvalidArgument,
                $"A {what} cannot contain a NUL character.",
                recommendedAction: "Remove the NUL character from the name or value.");
        }
    }
}
