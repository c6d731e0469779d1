<#
.SYNOPSIS
    Zero-downtime cutover: migrate while the application writes, catch up, freeze writes for a
    few seconds, catch up one last time, prove the data, and leave the source ready for rollback.
.DESCRIPTION
    1. Migrate every table while the application keeps running on the source.
    2. Sync (Invoke-ConfitureTableMigration -Sync) until one pass changes fewer than -SmallEnough rows.
    3. Freeze writes on the source: revoke the application role's INSERT, UPDATE, DELETE and TRUNCATE
       on the tables and end its sessions, so no transaction is left in flight.
    4. Final sync, then Test-ConfitureMigration -Checksum: every value, not only counts. The
       script always ends with this checksum, and switches only when it matches: a sync reads the
       source, so a change made to the target itself meanwhile is seen only by the checksum.
    Then the cutover gate, Test-ConfitureCutover: the switch goes ahead only when it says Ready
       (every table verified since its last change, sequences, indexes, constraints, statistics).
    5. Point the application at the target (your part: a config change, a DNS switch...).
    The source keeps its data and stays read-only for the application: to roll back, grant the
    privileges again and point the application back. If anything fails before the switch, this
    script gives the privileges back itself.

    The freeze runs through psql (on PATH), as the source connection's user, who must own the
    tables (or be a superuser) to revoke and grant.
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
$m = Enable-ConfitureFdw @fdw
$frozen = $false
try {
    Write-Host '1. Migrate while the application runs'
    $migrated = foreach ($name in $Table) {
        $arguments = @{ Migration = $m; SourceTable = $name; Strategy = 'Copy'; Confirm = $false }
        if ($ColumnMapping[$name]) { $arguments.ColumnMapping = $ColumnMapping[$name] }
        $result = Invoke-ConfitureTableMigration @arguments
        Write-Host ("  {0}: {1} rows in {2:0.00} s" -f $name, $result.RowsMigrated, $result.Elapsed.TotalSeconds)
        $result
    }

    Write-Host "2. Sync until one pass changes fewer than $SmallEnough rows"
    for ($pass = 1; $pass -le $MaxPasses; $pass++) {
        $changed = Sync-Tables $migrated
        Write-Host "  pass ${pass}: $changed rows changed"
        if ($changed -lt $SmallEnough) { break }
    }

    Write-Host '3. Freeze writes on the source'
    $freeze = [System.Diagnostics.Stopwatch]::StartNew()
    Invoke-SourceSql "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON $quotedTables FROM $quotedRole;" | Out-Null
    $frozen = $true
    # Sessions that already passed the privilege check could still commit: end them. The
    # application reconnects and can read, but no longer write.
    Invoke-SourceSql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $roleLiteral AND datname = current_database();" | Out-Null

    Write-Host '4. Final sync and checksum'
    $changed = Sync-Tables $migrated
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

    Write-Host ("5. Writes were frozen for {0:0.00} s; the target now holds every row. Point the application at the target." -f $freeze.Elapsed.TotalSeconds)
    Write-Host "   To roll back: GRANT INSERT, UPDATE, DELETE, TRUNCATE ON $quotedTables TO $quotedRole; and point it back at the source."
    [pscustomobject]@{ FrozenSeconds = $freeze.Elapsed.TotalSeconds; FinalSyncRows = $changed; Verified = $checks }
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
