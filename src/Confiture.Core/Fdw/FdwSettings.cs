namespace Confiture.Core.Fdw;

/// <summary>How the target reaches the source through postgres_fdw.</summary>
public sealed record FdwSettings
{
    /// <summary>The fetch size Confiture sets on its server: PostgreSQL's default of 100 rows per round trip is 1.5x slower.</summary>
    public const int DefaultFetchSize = 10_000;

    /// <summary>The target schema that holds the foreign tables.</summary>
    public string ForeignSchema { get; init; } = "old_schema";

    /// <summary>The schema on the source whose tables are imported.</summary>
    public string SourceSchema { get; init; } = "public";

    /// <summary>The name of the foreign server on the target.</summary>
    public string ServerName { get; init; } = "confiture_source_server";

    /// <summary>Limits the import to these source tables; null or empty imports them all.</summary>
    public IReadOnlyList<string>? Tables { get; init; }

    /// <summary>Rows per round trip from source to target.</summary>
    public int FetchSize { get; init; } = DefaultFetchSize;

    /// <summary>The source's host as the target server sees it, when it differs from the client's view.</summary>
    public string? SourceHostForTarget { get; init; }

    /// <summary>The source's port as the target server sees it, when it differs from the client's view.</summary>
    public int? SourcePortForTarget { get; init; }

    /// <summary>PostgreSQL's longest identifier in bytes (NAMEDATALEN - 1); a longer name is cut silently.</summary>
    public const int MaxIdentifierBytes = 63;

    /// <summary>
    /// Takes over a foreign server of this name that Confiture set up for another source or for a
    /// session that is still live; without it, setup refuses such a server.
    /// </summary>
    public bool Force { get; init; }

    /// <summary>Checks the settings before any database is touched.</summary>
    public void Validate()
    {
        Require(ForeignSchema, "ForeignSchema");
        Require(SourceSchema, "SourceSchema");
        Require(ServerName, "ServerName");
        if (FetchSize is < 1 or > 10_000_000)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"FetchSize {FetchSize} is not from 1 to 10000000.", recommendedAction: "Pass a FetchSize such as 10000.");
        }

        if (SourcePortForTarget is < 1 or > 65535)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"SourcePortForTarget {SourcePortForTarget} is not from 1 to 65535.");
        }

        foreach (var table in Tables ?? [])
        {
            Require(table, "Table");
        }
    }

    private static void Require(string value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"{name} cannot be empty.", recommendedAction: $"Pass a {name}, or leave it out for the default.");
        }

        Sql.SqlText.RejectNul(value, name);

        // PostgreSQL would cut the name at 63 bytes and create (and later look for) another object
        // than the one asked for, so cleanup would miss it.
        var bytes = System.Text.Encoding.UTF8.GetByteCount(value);
        if (bytes > MaxIdentifierBytes)
        {
            throw new ConfitureException(ConfitureErrorKind.InvalidArgument,
                $"{name} is {bytes} bytes long in UTF-8; PostgreSQL names are at most {MaxIdentifierBytes} bytes and a longer one would be cut.",
                value, $"Pass a {name} of at most {MaxIdentifierBytes} bytes (non-ASCII letters take 2 to 4 bytes each).");
        }
    }
}
