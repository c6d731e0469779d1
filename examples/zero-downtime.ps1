<#
.SYNOPSIS
    Zero-downtime cutover: migrate while the application writes, catch up, freeze writes for a
    moment, catch up one last time, prove the data, and leave the source ready for rollback.
.DESCRIPTION
    1. Migrate every table while the application keeps running on the source.
    2. Catch up while it still writes. With -CatchUp Stream (the default), through logical
       decoding: Enable-ConfitureFdw -ChangeStream made a replication slot whose snapshot the
       migration read, and Sync-ConfitureMigration applies what the source wrote since, until the
       lag is under -SmallEnoughBytes. With -CatchUp Range (a source without wal_level = logical,
       or a role that may not replicate): Invoke-ConfitureTableMigration -Sync, by range digests
       or -ChangedSince, until one pass changes fewer than -SmallEnough rows.
    3. Freeze writes on the source: revoke the application role's INSERT, UPDATE, DELETE and TRUNCATE
       on the tables and end its sessions, so no transaction is left in flight.
    4. Final catch-up: one last Sync-ConfitureMigration applies what the source committed before
       it began, so the freeze lasts as long as the changes since the previous call need, whatever
       the size of the tables (a range -Sync rereads the tables). Sequences follow the data (the
       copy, each sync and each streamed batch move them past the values written).
    5. Test-ConfitureMigration -Checksum: every value, not only counts. The script always ends
       with this checksum, and switches only when it matches: a catch-up reads the source, so a
       change made to the target itself meanwhile is seen only by the checksum.
    Then the cutover gate, Test-ConfitureCutover: the switch goes ahead only when it says Ready
       (every table verified since its last change, sequences, indexes, constraints, statistics,
       the stream's lag).
    6. Point the application at the target (your part: a config change, a DNS switch...).
    The source keeps its data and stays read-only for the application: to roll back, grant the
    privileges again and point the application back. If anything fails before the switch, this
    script gives the privileges back itself. The change stream's slot is dropped at the end in
    every case (an abandoned slot keeps WAL on the source until its disk fills).

    The freeze runs through psql (on PATH), as the source connection's user, who must own the
    tables (or be a superuser) to revoke and grant; with -CatchUp Stream it must also have the
    REPLICATION attribute.
.EXAMPLE
    ./examples/zero-downtime.ps1 -SourceConnectionString $old -TargetConnectionString $new `
        -Table accounts, orders -ApplicationRole app_writer -ColumnMapping @{ accounts = [ordered]@{ id = 'id'; full_name = 'display_name' } }
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $SourceConnectionString,
    [Parameter(Mandatory)][string] $TargetConnectionString,
    [Parameter(Mandatory)][string[]] $Table,
    # The role the application writes with; its write privileges are revoked during the freeze.
    [Parameter(Mandatory)][string] $ApplicationRole,
    # Per table: source column -> target column.
    [hashtable] $ColumnMapping = @{},
    # Per table: a mapped change column (such as updated_at) for -ChangedSince syncs, which read
    # only what the source wrote since the last sync; others sync by range digests.
    [hashtable] $ChangedSince = @{},
    [string] $SourceSchema = 'public',
    # How to catch up: Stream (logical decoding, Sync-ConfitureMigration) or Range (Invoke-ConfitureTableMigration -Sync).
    [ValidateSet('Stream', 'Range')][string] $CatchUp = 'Stream',
    # Stream: the lag (WAL bytes) under which the writes are frozen.
    [long] $SmallEnoughBytes = 1MB,
    # Range: the rows one pass may change before the writes are frozen.
    [int] $SmallEnough = 1000,
    [int] $MaxPasses = 5,
    [string] $SourceHostForTarget,
    [int] $SourcePortForTarget,
    [string] $ModulePath
)

$ErrorActionPreference = 'Stop'
if ($ModulePath) { Import-Module $ModulePath } else { Import-Module Confiture }

function Invoke-SourceSql([string] $Sql) {
    # DbConnectionStringBuilder is an IDictionary: call the property accessor to parse the string.
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder.set_ConnectionString($SourceConnectionString)
    $part = { param([string[]] $names) foreach ($n in $names) { if ($builder.ContainsKey($n)) { return [string]$builder[$n] } } }
    $savedPassword = $env:PGPASSWORD
    try {
        $env:PGPASSWORD = & $part @('Password')
        $output = $Sql | & psql -X -q -At -v ON_ERROR_STOP=1 -h (& $part @('Host', 'Server')) -p (& $part @('Port')) `
            -U (& $part @('Username', 'User Id', 'User')) -d (& $part @('Database')) -f - 2>&1
        if ($LASTEXITCODE -ne 0) { throw "psql on the source failed: $($output -join [Environment]::NewLine)" }
        $output
    }
    finally {
        $env:PGPASSWORD = $savedPassword
    }
}

function Sync-Tables($Migrated) {
    $changed = 0
    foreach ($migrated in $Migrated) {
        # The migration's result carries its target table, schema and mapping into the sync.
        $arguments = @{ Sync = $true; Confirm = $false }
        if ($ChangedSince[$migrated.SourceTable]) { $arguments.ChangedSince = $ChangedSince[$migrated.SourceTable] }
        $result = $migrated | Invoke-ConfitureTableMigration @arguments
        Write-Host ("  {0}: {1} inserted, {2} updated, {3} deleted in {4:0.00} s" -f $migrated.SourceTable, $result.RowsInserted, $result.RowsUpdated, $result.RowsDeleted, $result.Elapsed.TotalSeconds)
        $changed += $result.RowsMigrated
    }
    $changed
}

$quotedRole = '"' + $ApplicationRole.Replace('"', '""') + '"'
$quotedTables = ($Table | ForEach-Object { '"' + $SourceSchema.Replace('"', '""') + '"."' + $_.Replace('"', '""') + '"' }) -join ', '
$roleLiteral = "'" + $ApplicationRole.Replace("'", "''") + "'"

$src = Connect-ConfitureDatabase -ConnectionString $SourceConnectionString -Name source
$tgt = Connect-ConfitureDatabase -ConnectionString $TargetConnectionString -Name target
$fdw = @{ Source = $src; Target = $tgt; SourceSchema = $SourceSchema; Table = $Table; Confirm = $false }
if ($SourceHostForTarget) { $fdw.SourceHostForTarget = $SourceHostForTarget }
if ($SourcePortForTarget) { $fdw.SourcePortForTarget = $SourcePortForTarget }
if ($CatchUp -eq 'Stream') { $fdw.ChangeStream = $true }
$m = Enable-ConfitureFdw @fdw
$frozen = $false

$passes = [System.Collections.Generic.List[object]]::new()
function Sync-Stream {
    $status = $m | Sync-ConfitureMigration -Confirm:$false
    $passes.Add($status)
    Write-Host ("  {0} changes ({1} inserted, {2} updated, {3} deleted) in {4:0.00} s, {5:N0} bytes behind" -f $status.ChangesApplied, $status.Inserted, $status.Updated, $status.Deleted, $status.Elapsed.TotalSeconds, $status.LagBytes)
    $status
}

try {
    Write-Host '1. Migrate while the application runs'
    $migrated = foreach ($name in $Table) {
        $arguments = @{ Migration = $m; SourceTable = $name; Strategy = 'Copy'; Confirm = $false }
        if ($ColumnMapping[$name]) { $arguments.ColumnMapping = $ColumnMapping[$name] }
        $result = Invoke-ConfitureTableMigration @arguments
        Write-Host ("  {0}: {1} rows in {2:0.00} s" -f $name, $result.RowsMigrated, $result.Elapsed.TotalSeconds)
        $result
    }

    if ($CatchUp -eq 'Stream') {
        Write-Host "2. Apply the change stream until the lag is under $SmallEnoughBytes bytes"
        for ($pass = 1; $pass -le $MaxPasses; $pass++) {
            $status = Sync-Stream
            if ($status.LagBytes -lt $SmallEnoughBytes) { break }
        }
    }
    else {
        Write-Host "2. Sync until one pass changes fewer than $SmallEnough rows"
        for ($pass = 1; $pass -le $MaxPasses; $pass++) {
            $changed = Sync-Tables $migrated
            Write-Host "  pass ${pass}: $changed rows changed"
            if ($changed -lt $SmallEnough) { break }
        }
    }

    Write-Host '3. Freeze writes on the source'
    $freeze = [System.Diagnostics.Stopwatch]::StartNew()
    Invoke-SourceSql "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON $quotedTables FROM $quotedRole;" | Out-Null
    $frozen = $true
    # Sessions that already passed the privilege check could still commit: end them. The
    # application reconnects and can read, but no longer write.
    Invoke-SourceSql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $roleLiteral AND datname = current_database();" | Out-Null

    Write-Host '4. Final catch-up'
    $changed = if ($CatchUp -eq 'Stream') { (Sync-Stream).ChangesApplied } else { Sync-Tables $migrated }
    # From here the target holds every change the source committed.
    $caughtUp = $freeze.Elapsed

    Write-Host '5. Checksum'
    $checks = $migrated | Test-ConfitureMigration -Checksum
    $checks | Format-Table SourceTable, TargetTable, SourceCount, TargetCount, ChecksumMatch, Match | Out-Host
    if ($checks | Where-Object { -not $_.Match }) { throw 'The final checksum differs: not switching.' }

    # --- The cutover gate: one verdict on everything the switch depends on ---------------------
    $gate = $m | Test-ConfitureCutover -WarningAction SilentlyContinue
    if (-not $gate.Ready) {
        throw "The cutover gate failed, not switching: $(($gate.FailedItems | ForEach-Object { "$($_.Check) $($_.Table): $($_.Detail) $($_.WhatToDo)" }) -join ' | ')"
    }
    Write-Host "  cutover gate: ready ($($gate.Items.Count) items passed)"
    # ---------------------------------------------------------------------------------------------
    $freeze.Stop()

    Write-Host ("6. Writes were frozen for {0:0.00} s: {1:0.00} s until the target held every committed change ({2}), {3:0.00} s for the checksum. Point the application at the target." -f $freeze.Elapsed.TotalSeconds, $caughtUp.TotalSeconds, $CatchUp, ($freeze.Elapsed - $caughtUp).TotalSeconds)
    Write-Host "   To roll back: GRANT INSERT, UPDATE, DELETE, TRUNCATE ON $quotedTables TO $quotedRole; and point it back at the source."
    [pscustomobject]@{
        CatchUp = $CatchUp; FrozenSeconds = $freeze.Elapsed.TotalSeconds; CaughtUpSeconds = $caughtUp.TotalSeconds
        ChecksumSeconds = ($freeze.Elapsed - $caughtUp).TotalSeconds; FinalSyncRows = $changed; Verified = $checks; StreamPasses = $passes.ToArray()
    }
}
catch {
    if ($frozen) {
        Write-Warning 'Cutover abandoned: giving the application its write privileges back on the source.'
        Invoke-SourceSql "GRANT INSERT, UPDATE, DELETE, TRUNCATE ON $quotedTables TO $quotedRole;" | Out-Null
    }
    throw
}
finally {
    $m | Remove-ConfitureFdw -Confirm:$false
}
