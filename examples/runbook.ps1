<#
.SYNOPSIS
    An Azure Automation runbook (PowerShell 7.4) that migrates a list of tables from the source
    PostgreSQL database to the target, verifies them, and always cleans up.
.DESCRIPTION
    Import Confiture.zip (build.ps1 Package) as a module of the Automation account, create two
    credential assets (by default "ConfitureSource" and "ConfitureTarget") and start this runbook
    with the server and database names. It:

    1. connects to both databases with the credentials of the Automation account,
    2. sets up postgres_fdw on the target for the listed tables,
    3. migrates each table with the strategy the planner advises, in one target transaction each,
    4. verifies row counts and content checksums on both servers,
    5. removes the foreign server, user mapping and foreign tables in a finally block, whatever
       happened,

    and throws (so the job ends as Failed) when a step fails or a table does not match.

    Outside Azure Automation (Get-AutomationPSCredential does not exist) the credentials come
    from -SourceCredential/-TargetCredential, else from the environment variables
    CONFITURE_SOURCE_USER/CONFITURE_SOURCE_PASSWORD and CONFITURE_TARGET_USER/
    CONFITURE_TARGET_PASSWORD; server, port and database may also come from CONFITURE_SOURCE_HOST,
    CONFITURE_SOURCE_PORT, CONFITURE_SOURCE_DATABASE and the CONFITURE_TARGET_* equivalents.
.PARAMETER SourceHost
    The source server's host name.
.PARAMETER SourcePort
    The source server's port (5432 when left out).
.PARAMETER SourceDatabase
    The source database.
.PARAMETER TargetHost
    The target server's host name.
.PARAMETER TargetPort
    The target server's port (5432 when left out).
.PARAMETER TargetDatabase
    The target database, where the new schema's tables already exist.
.PARAMETER Tables
    The source tables to migrate, as an array or one comma-separated string (the Automation
    portal passes strings). Left out, every table of -SourceSchema.
.PARAMETER SourceSchema
    The source schema.
.PARAMETER TargetSchema
    The target schema.
.PARAMETER SourceCredentialName
    The Automation credential asset for the source.
.PARAMETER TargetCredentialName
    The Automation credential asset for the target.
.PARAMETER SourceCredential
    The source credential, for runs outside Azure Automation.
.PARAMETER TargetCredential
    The target credential, for runs outside Azure Automation.
.PARAMETER SslMode
    The TLS mode for both connections (and for postgres_fdw towards the source).
.PARAMETER SourceHostForTarget
    The source's address as the target server sees it, when it differs.
.PARAMETER SourcePortForTarget
    The source's port as the target server sees it, when it differs.
.PARAMETER Truncate
    Replaces the rows of target tables that already hold some (a re-run), in the same transaction.
.PARAMETER ModulePath
    The Confiture module to import; left out, the one installed in the Automation account.
.EXAMPLE
    Start-AzAutomationRunbook -AutomationAccountName ops -ResourceGroupName db -Name Confiture-Migrate -Parameters @{
        SourceHost = 'old-db.postgres.database.azure.com'; SourceDatabase = 'shop'
        TargetHost = 'new-db.postgres.database.azure.com'; TargetDatabase = 'shop'
        Tables = 'customers,orders,order lines'
    }
.EXAMPLE
    ./examples/runbook.ps1 -SourceHost localhost -SourceDatabase shop_old -TargetHost localhost -TargetDatabase shop_new -SslMode Disable -SourceCredential (Get-Credential) -TargetCredential (Get-Credential)
#>
[CmdletBinding()]
param(
    [string] $SourceHost = $env:CONFITURE_SOURCE_HOST,
    [int] $SourcePort = $(if ($env:CONFITURE_SOURCE_PORT) { [int]$env:CONFITURE_SOURCE_PORT } else { 5432 }),
    [string] $SourceDatabase = $env:CONFITURE_SOURCE_DATABASE,
    [string] $TargetHost = $env:CONFITURE_TARGET_HOST,
    [int] $TargetPort = $(if ($env:CONFITURE_TARGET_PORT) { [int]$env:CONFITURE_TARGET_PORT } else { 5432 }),
    [string] $TargetDatabase = $env:CONFITURE_TARGET_DATABASE,
    [string[]] $Tables,
    [string] $SourceSchema = 'public',
    [string] $TargetSchema = 'public',
    [string] $SourceCredentialName = 'ConfitureSource',
    [string] $TargetCredentialName = 'ConfitureTarget',
    [pscredential] $SourceCredential,
    [pscredential] $TargetCredential,
    [ValidateSet('Disable', 'Allow', 'Prefer', 'Require', 'VerifyCA', 'VerifyFull')]
    [string] $SslMode = 'Require',
    [string] $SourceHostForTarget,
    [int] $SourcePortForTarget,
    [switch] $Truncate,
    [string] $ModulePath
)

$ErrorActionPreference = 'Stop'
# A job has no console: verbose text and progress bars only slow it down and fill its streams.
$VerbosePreference = 'SilentlyContinue'
$ProgressPreference = 'SilentlyContinue'

function Get-RunbookCredential([string] $AssetName, [pscredential] $Given, [string] $Side) {
    if ($Given) { return $Given }
    if (Get-Command Get-AutomationPSCredential -ErrorAction SilentlyContinue) {
        return Get-AutomationPSCredential -Name $AssetName
    }
    $user = [Environment]::GetEnvironmentVariable("CONFITURE_${Side}_USER")
    $password = [Environment]::GetEnvironmentVariable("CONFITURE_${Side}_PASSWORD")
    if (-not $user -or $null -eq $password) {
        throw "No $($Side.ToLowerInvariant()) credential: run in Azure Automation with the credential asset '$AssetName', pass -$(if ($Side -eq 'SOURCE') { 'Source' } else { 'Target' })Credential, or set CONFITURE_${Side}_USER and CONFITURE_${Side}_PASSWORD."
    }
    [pscredential]::new($user, (ConvertTo-SecureString $password -AsPlainText -Force))
}

foreach ($required in 'SourceHost', 'SourceDatabase', 'TargetHost', 'TargetDatabase') {
    if (-not (Get-Variable $required -ValueOnly)) { throw "-$required is required (or its CONFITURE_* environment variable)." }
}
# The Automation portal passes an array parameter as one string: accept "a,b,c" too.
$tableList = @($Tables | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })

if ($ModulePath) { Import-Module $ModulePath } else { Import-Module Confiture }

$clock = [Diagnostics.Stopwatch]::StartNew()
$source = Connect-ConfitureDatabase -Host $SourceHost -Port $SourcePort -Database $SourceDatabase -SslMode $SslMode -Name source `
    -Credential (Get-RunbookCredential $SourceCredentialName $SourceCredential 'SOURCE')
$target = Connect-ConfitureDatabase -Host $TargetHost -Port $TargetPort -Database $TargetDatabase -SslMode $SslMode -Name target `
    -Credential (Get-RunbookCredential $TargetCredentialName $TargetCredential 'TARGET')
Write-Output "Source: $($source.User)@$SourceHost/$SourceDatabase (PostgreSQL $($source.ServerVersion)); target: $($target.User)@$TargetHost/$TargetDatabase (PostgreSQL $($target.ServerVersion))"

$fdw = @{ Source = $source; Target = $target; SourceSchema = $SourceSchema; Confirm = $false }
$only = @{}
if ($tableList) { $fdw.Table = $tableList; $only.Table = $tableList }
if ($SourceHostForTarget) { $fdw.SourceHostForTarget = $SourceHostForTarget }
if ($SourcePortForTarget) { $fdw.SourcePortForTarget = $SourcePortForTarget }

$migration = $null
try {
    $migration = Enable-ConfitureFdw @fdw

    $plan = @($migration | Get-ConfitureStrategy @only)
    Write-Output ('Plan: {0} table(s), about {1:N0} s' -f $plan.Count, ($plan | Measure-Object EstimatedSeconds -Sum).Sum)

    # With $ErrorActionPreference = 'Stop' the first failing table stops the runbook; each table
    # is all-or-nothing, so the target holds whole tables only, and the finally block cleans up.
    $replace = @{}
    if ($Truncate) { $replace = @{ Truncate = $true; Force = $true } }
    $results = @($plan | Invoke-ConfitureTableMigration -TargetSchema $TargetSchema -Confirm:$false @replace)
    ($results | Format-Table -AutoSize | Out-String -Width 200).Trim() | Write-Output

    $checks = @($results | Test-ConfitureMigration -Checksum)
    ($checks | Format-Table -AutoSize | Out-String -Width 200).Trim() | Write-Output
    $failed = @($checks | Where-Object { -not $_.Match })
    if ($failed.Count -gt 0 -or $checks.Count -ne $results.Count) {
        $names = ($failed | ForEach-Object { '{0} (source {1}, target {2} rows)' -f $_.SourceTable, $_.SourceCount, $_.TargetCount }) -join ', '
        throw "Verification failed: $names. The target tables keep what was migrated; fix the cause and run again with -Truncate."
    }
    Write-Output ('Migrated and verified {0} table(s), {1:N0} rows, in {2:N1} s.' -f $results.Count, ($results | Measure-Object RowsMigrated -Sum).Sum, $clock.Elapsed.TotalSeconds)
}
finally {
    # The user mapping holds the source password: never leave it behind, whatever happened above.
    if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false }
}
