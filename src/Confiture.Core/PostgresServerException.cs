using Npgsql;

namespace Confiture.Core;

/// <summary>
/// The server's error, as plain data. Npgsql's <see cref="PostgresException"/> carries the command
/// that failed (whose text may hold a secret) and declares one property twice, which breaks
/// PowerShell's ConvertTo-Json of any error record that holds it; this copy keeps what a DBA reads.
/// </summary>
public sealed class PostgresServerException : Exception
{
    /// <summary>Copies the server's error.</summary>
    public PostgresServerException(PostgresException error)
        : base(error?.Message, null)
    {
        ArgumentNullException.ThrowIfNull(error);
        SqlState = error.SqlState;
        Severity = error.Severity;
        MessageText = error.MessageText;
        Hint = error.Hint;
        SchemaName = error.SchemaName;
        TableName = error.TableName;
        ColumnName = error.ColumnName;
        ConstraintName = error.ConstraintName;
    }

    /// <summary>The SQLSTATE code, e.g. 23505.</summary>
    public string SqlState { get; }

    /// <summary>ERROR, FATAL or PANIC.</summary>
    public string Severity { get; }

    /// <summary>The primary message.</summary>
    public string MessageText { get; }

    /// <summary>The server's hint, if any.</summary>
    public string? Hint { get; }

    /// <summary>The schema the error concerns, if any.</summary>
    public string? SchemaName { get; }

    /// <summary>The table the error concerns, if any.</summary>
    public string? TableName { get; }

    /// <summary>The column the error concerns, if any.</summary>
    public string? ColumnName { get; }

    /// <summary>The constraint the error concerns, if any.</summary>
    public string? ConstraintName { get; }
}
