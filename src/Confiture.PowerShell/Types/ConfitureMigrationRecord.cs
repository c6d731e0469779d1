using Confiture.Core.Record;

namespace Confiture.PowerShell.Types;

/// <summary>
/// A session recorded on a target, as Get-ConfitureMigration lists it without -Source: what it
/// reads, what it migrated and whether its process still runs. To continue it, give the source.
/// </summary>
public sealed class ConfitureMigrationRecord
{
    internal ConfitureMigrationRecord(RecordedSession session, ConfitureConnection target)
    {
        Session = session;
        Target = target;
        Migrated = [.. session.Migrated.Select(t => t.SourceTable == t.TargetTable && t.TargetSchema == "public"
            ? $"{t.SourceTable} ({t.RowsWritten:N0} rows, {t.Strategy})"
            : $"{t.SourceTable} -> {t.TargetSchema}.{t.TargetTable} ({t.RowsWritten:N0} rows, {t.Strategy})")];
    }

    /// <summary>The foreign server on the target (Get-ConfitureMigration -Name).</summary>
    public string ServerName => Session.ServerName;

    /// <summary>The source as the foreign server reaches it: host:port/database.</summary>
    public string Source => Session.SourceAddress;

    /// <summary>The source's host as the foreign server reaches it.</summary>
    public string SourceHost => Session.SourceHost;

    /// <summary>The source's port as the foreign server reaches it.</summary>
    public int SourcePort => Session.SourcePort;

    /// <summary>The source database.</summary>
    public string SourceDatabase => Session.SourceDatabase;

    /// <summary>The source schema whose tables were imported.</summary>
    public string SourceSchema => Session.SourceSchema;

    /// <summary>The target schema holding the foreign tables.</summary>
    public string ForeignSchema => Session.ForeignSchema;

    /// <summary>The source tables imported as foreign tables.</summary>
    public string[] Tables => [.. Session.Tables];

    /// <summary>The tables migrated in this session, with their rows and strategy.</summary>
    public string[] Migrated { get; }

    /// <summary>Live (the process that set it up still runs and holds its lock), Ended (it may be continued), or ServerMissing (its foreign server was dropped).</summary>
    public string State => !Session.ServerExists ? "ServerMissing" : Session.Live ? "Live" : "Ended";

    /// <summary>The role that set the session up.</summary>
    public string SetUpBy => Session.SetUpBy;

    /// <summary>When it was set up.</summary>
    public DateTimeOffset SetUpAt => Session.SetUpAt;

    /// <summary>The machine and process that set it up.</summary>
    public string SetUpFrom => Session.SessionClient;

    /// <summary>The target the record was read from.</summary>
    public ConfitureConnection Target { get; }

    /// <summary>What continuing the session takes: this listing has no source connection.</summary>
    public string Continue =>
        $"Get-ConfitureMigration -Target $target -Name '{ServerName.Replace("'", "''", StringComparison.Ordinal)}' -Source (Connect-ConfitureDatabase ... {Source})";

    internal RecordedSession Session { get; }

    /// <inheritdoc />
    public override string ToString() => $"{ServerName}: {Source} ({State})";
}
