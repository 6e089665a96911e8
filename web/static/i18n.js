// Chinese by default, English on request. Elements carry data-i18n="key" (text),
// data-i18n-placeholder, data-i18n-title or data-i18n-aria-label; the choice is kept in localStorage.

const STORAGE_KEY = "rvw.lang";

const DICT = {
  zh: {
    "app.title": "长三角远程虚拟窗口",
    "app.subtitle": "跨省通办 · 屏对屏帮办",
    "lang.switch": "English",
    "lang.switchLabel": "Switch to English",
    "nav.home": "首页",

    "index.title": "长三角远程虚拟窗口",
    "index.lead": "在家门口的自助终端或浏览器上，由事项所属省市的工作人员通过视频“屏对屏、手把手”帮您办理跨省事项。",
    "index.kiosk": "群众端：我要办事",
    "index.kioskDesc": "选择事项和办理地，排队等候，工作人员接通视频后一步步指导您。",
    "index.console": "工作人员工作台",
    "index.consoleDesc": "登录后接听群众的求助，视频受理，结束时填写办理结果。",
    "index.supervisor": "值班长看板",
    "index.supervisorDesc": "实时查看排队、坐席状态、今日办件和 {sla} 秒内接通率。",
    "index.sla": "服务承诺：{sla} 秒内有工作人员响应。",

    "kiosk.title": "远程帮办",
    "kiosk.chooseMatter": "请选择要办理的事项",
    "kiosk.chooseProvince": "请选择由哪里的工作人员为您办理",
    "kiosk.chosenMatter": "事项：{name}",
    "kiosk.ask": "呼叫工作人员",
    "kiosk.back": "返回",
    "kiosk.loadingMatters": "正在加载事项……",
    "kiosk.noMatters": "暂时没有可办理的事项。",
    "kiosk.waitingTitle": "正在为您排队",
    "kiosk.ticket": "排队号",
    "kiosk.position": "前面还有",
    "kiosk.positionValue": "{n} 位",
    "kiosk.positionFirst": "下一位就是您",
    "kiosk.estimate": "预计等待",
    "kiosk.estimateValue": "约 {t}",
    "kiosk.estimateSoon": "马上",
    "kiosk.waitingHint": "请不要离开，工作人员接听后会自动打开视频。",
    "kiosk.cancel": "取消排队",
    "kiosk.callWith": "{name}（{region}）正在为您服务",
    "kiosk.clerk": "工作人员",
    "kiosk.me": "我",
    "kiosk.sharedScreen": "共享的屏幕",
    "kiosk.shareScreen": "共享我的屏幕",
    "kiosk.stopShare": "停止共享",
    "kiosk.hangUp": "挂断",
    "kiosk.hangUpConfirm": "确定要结束本次视频吗？",
    "kiosk.rateTitle": "请您对本次服务作出评价",
    "kiosk.rateCase": "办件编号：{id}",
    "kiosk.comment": "意见或建议（可不填）",
    "kiosk.submitRating": "提交评价",
    "kiosk.skipRating": "不评价",
    "kiosk.doneTitle": "感谢您的评价！",
    "kiosk.doneText": "请保存您的办件编号：{id}",
    "kiosk.doneNoRate": "本次服务已结束。",
    "kiosk.again": "办理其他事项",
    "kiosk.ended.resolved": "工作人员已办结本次事项。",
    "kiosk.ended.referred": "您的事项已转交相关部门办理。",
    "kiosk.ended.unresolved": "本次事项暂未办结，工作人员会与您联系。",
    "kiosk.ended.cancelled": "您已取消排队。",
    "kiosk.ended.abandoned": "排队已结束，请重新呼叫。",
    "kiosk.ended.other": "本次服务已结束。",
    "kiosk.caseLine": "办件编号：{id}",
    "kiosk.estimateUnknown": "无法估计",
    "kiosk.estimatePending": "—",
    "kiosk.estimateUnknownHint": "现在没有办理这项业务的工作人员在岗，暂时无法估计要等多久。您可以继续等候，也可以取消排队，稍后再来。",
    "kiosk.transferred": "刚才的工作人员已把您的事项转给{region}的工作人员（{skill}）办理，视频已结束。请在这里稍等：您排在最前面，新的工作人员接听后会自动打开视频。办件编号不变。",
    "kiosk.transferNote": "转办原因：{note}",
    "kiosk.requeued": "刚才的工作人员网络中断，没能回来。已为您重新排队，您排在最前面，请在这里稍等。办件编号不变。",
    "kiosk.clerkAway": "工作人员的网络暂时中断了，正在重新连接。请不要离开，稍等一会儿（最多约 {t}）。",
    "kiosk.ended.expired": "很抱歉，您等候的时间太长，本次呼叫已自动结束。如果还需要办理，请再点一次“呼叫工作人员”。",
    "kiosk.ended.expiredChoose": "很抱歉，您等候的时间太长，本次呼叫已自动结束。如果还需要办理，请重新选择事项并呼叫工作人员。",
    "kiosk.cameraOff": "没有找到摄像头或麦克风，工作人员可能看不到您，但仍可以为您服务。",
    "kiosk.enableSound": "点击开启声音",
    "kiosk.where": "您所在地：{region}",

    "rating.5": "非常满意",
    "rating.4": "满意",
    "rating.3": "基本满意",
    "rating.2": "不满意",
    "rating.1": "非常不满意",

    "conn.connecting": "正在连接服务器……",
    "conn.online": "已连接",
    "conn.lost": "网络中断，正在重新连接……",
    "conn.moving": "服务器正在切换，正在重新连接……",
    "conn.refused": "无法连接：{msg}",

    "media.new": "准备中",
    "media.connecting": "正在接通视频……",
    "media.connected": "视频已接通",
    "media.disconnected": "视频信号不稳定，正在恢复……",
    "media.failed": "视频中断，正在重新接通……",
    "media.closed": "视频已关闭",

    "login.title": "登录",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.logout": "退出登录",
    "login.wrongRole.clerk": "此账号不是工作人员账号。",
    "login.wrongRole.supervisor": "此账号不是值班长账号。",
    "login.failed": "用户名或密码错误。",
    "login.throttled": "登录失败次数过多，请几分钟后再试。",
    "login.expired": "登录已过期，请重新登录。",

    "console.title": "工作人员工作台",
    "console.status": "当前状态",
    "status.available": "空闲可接",
    "status.break": "小休",
    "status.offline": "离线",
    "status.busy": "服务中",
    "status.offered": "有来电",
    "status.wrap_up": "整理中",
    "status.reason.missed_offer": "您错过了一个求助请求，系统已将您设为“小休”。准备好后请点“空闲可接”。",
    "status.reason.reconnected": "已重新连接。",
    "console.goAvailable": "空闲可接",
    "console.goBreak": "小休",
    "console.goOffline": "离线",
    "console.offers": "待接听的求助",
    "console.noOffers": "暂无求助。设为“空闲可接”后，新的求助会出现在这里。",
    "console.offerFrom": "来自 {origin} · {channel}",
    "console.offerWaited": "已等待 {s} 秒",
    "console.offerExpires": "{s} 秒内接听",
    "console.priority": "优先",
    "console.accept": "接听",
    "console.decline": "拒接",
    "console.withdrawn.expired": "求助 {id} 超时未接，已转给其他工作人员。",
    "console.withdrawn.cancelled": "求助 {id} 已被群众取消。",
    "console.withdrawn.withdrawn": "求助 {id} 已撤回。",
    "console.withdrawn.declined": "您已拒接求助 {id}。",
    "console.withdrawn.citizen_away": "求助 {id} 的群众暂时断线，重新连上后会再次分配。",
    "console.withdrawn.other": "求助 {id} 已结束。",
    "console.case": "当前办件",
    "console.caseId": "办件编号",
    "console.citizen": "群众",
    "console.citizenFrom": "{origin} · {channel}",
    "console.matter": "事项",
    "console.citizenVideo": "群众",
    "console.myVideo": "我",
    "console.citizenScreen": "群众共享的屏幕",
    "console.shareScreen": "共享屏幕",
    "console.stopShare": "停止共享",
    "console.reconnectVideo": "重新接通视频",
    "console.end": "结束办件",
    "console.outcome": "办理结果",
    "console.notes": "备注",
    "console.notesPlaceholder": "办理情况、需补充的材料等",
    "console.endSubmit": "结束并提交",
    "console.citizenEnded": "群众已挂断。请填写办理结果后提交。",
    "console.transfer": "转办",
    "console.transferTitle": "转办到其他省市或事项",
    "console.transferMatter": "事项",
    "console.transferProvince": "办理省市",
    "console.transferChoose": "请选择……",
    "console.transferCurrent": "{name}（当前队列）",
    "console.transferNote": "转办原因（群众也会看到）",
    "console.transferNotePlaceholder": "例如：该事项需由江苏省社保中心办理",
    "console.transferHint": "确认后本次视频结束，您可以接听下一位；群众在新队列的最前面等候，办件编号不变。",
    "console.transferSummary": "转给：{region} · {matter}",
    "console.transferConfirm": "确认转办",
    "console.transferCancel": "取消",
    "console.transferNeedProvince": "请选择办理省市。",
    "console.transferNeedNote": "请填写转办原因。",
    "console.transferBadRequest": "无法转到该省市：那里不办理这个事项，或办件已经在那个队列。",
    "console.transferDone": "办件 {id} 已转给{region}（{matter}）。",
    "console.history": "今日已办",
    "console.noHistory": "今天还没有办结的事项。",
    "console.me": "{region} · 技能：{skills}",
    "channel.kiosk": "自助终端",
    "channel.web": "网页",
    "outcome.resolved": "已办结",
    "outcome.referred": "已转办",
    "outcome.unresolved": "未解决",
    "outcome.citizen_ended": "群众挂断",
    "outcome.transferred": "已转出",

    "sup.title": "值班长看板",
    "sup.today": "今日",
    "sup.sl": "{sla} 秒内接通率",
    "sup.requests": "求助",
    "sup.answered": "已接通",
    "sup.within": "{sla} 秒内接通",
    "sup.abandoned": "放弃",
    "sup.asa": "平均接通时长",
    "sup.openCases": "进行中",
    "sup.resolution": "办结率",
    "sup.positive": "好评率",
    "sup.alerts": "等待超过 {s} 秒的群众",
    "sup.noAlerts": "没有等待过久的群众。",
    "sup.alertLine": "{ticket} · {region} · {skill} · 已等 {s} 秒",
    "sup.recentAlerts": "最近告警",
    "sup.noRecentAlerts": "暂无告警。",
    "sup.mute": "静音",
    "sup.unmute": "取消静音",
    "sup.alert.pre_breach": "即将超时",
    "sup.alert.breach": "已超时",
    "sup.eventLine": "{time} · {kind} · {ticket} · {region} · {skill} · 已等 {s} 秒",
    "sup.queues": "排队情况",
    "sup.noQueues": "当前无人排队。",
    "sup.col.region": "省市",
    "sup.col.skill": "业务",
    "sup.col.waiting": "排队",
    "sup.col.offered": "振铃中",
    "sup.col.oldest": "最长等待",
    "sup.col.staffed": "在岗",
    "sup.clerks": "工作人员",
    "sup.noClerks": "没有在线的工作人员。",
    "sup.col.name": "姓名",
    "sup.col.status": "状态",
    "sup.col.case": "办件",
    "sup.updated": "更新于 {t}",
    "sup.stale": "数据未更新，正在重连……",
    "sup.none": "—",
    "staff.title": "排班测算：需要多少工作人员",
    "staff.lead": "按 Erlang C 公式测算，并可用真实分配程序在虚拟时间里模拟同样的来访（不计放弃）。",
    "staff.arrivals": "每小时求助数",
    "staff.aht": "平均办理时长（秒）",
    "staff.sla": "接通时限（秒）",
    "staff.goal": "目标接通率（%）",
    "staff.clerks": "工作人员数（可不填）",
    "staff.simulate": "同时模拟 8 小时",
    "staff.submit": "测算",
    "staff.col.figure": "指标",
    "staff.col.erlang": "Erlang C",
    "staff.col.simulated": "模拟",
    "staff.needed": "至少需要 {n} 名工作人员，{sla} 秒内接通率才能达到 {goal}（话务量 {load} 爱尔兰）。",
    "staff.forClerks": "下表按 {n} 名工作人员测算。",
    "staff.unstable": "{n} 名工作人员接不过来：排队会越来越长。",
    "staff.seconds": "{n} 秒",
    "staff.row.clerks": "工作人员",
    "staff.row.sl": "{sla} 秒内接通率",
    "staff.row.asa": "平均接通时长",
    "staff.row.occupancy": "工作人员忙碌率",
    "staff.row.pwait": "需要排队的比例",
    "staff.row.arrivals": "求助 / 已接通",
    "unit.s": "{n} 秒",
    "unit.min": "{n} 分钟",

    "skill.social_insurance": "社会保险",
    "skill.pension": "养老金",
    "skill.medical_insurance": "医疗保障",
    "skill.housing_fund": "住房公积金",
    "skill.household": "户籍证件",
    "skill.business": "市场主体登记",
    "skill.vehicle": "交通管理",
    "skill.real_estate": "不动产登记",

    "err.bad_request": "请求内容有误。",
    "err.unauthorized": "身份验证失败，请重新登录或联系工作人员。",
    "err.forbidden": "您没有权限进行此操作。",
    "err.not_found": "找不到相关记录，可能已经结束。",
    "err.conflict": "操作与当前状态冲突，可能已被处理。",
    "err.rate_limited": "操作太频繁，请稍后再试。",
    "err.unavailable": "服务器暂时无法处理，请稍后再试。",
    "err.timeout": "服务器没有响应，请检查网络后再试。",
    "err.network": "网络连接失败，请检查网络后再试。",
    "err.media": "无法打开摄像头或屏幕共享：{msg}",
    "err.unknown": "出现错误，请重试。",
    "err.kioskToken": "这台终端尚未登记或已停用，请联系现场工作人员。",
    "setup.title": "自助终端设置",
    "setup.lead": "由终端管理员操作一次：输入 rvw kiosk add 给出的终端令牌。令牌只保存在这台终端的浏览器里，不会出现在网址中。",
    "setup.token": "终端令牌",
    "setup.save": "保存并打开终端页面",
    "setup.clear": "清除本机令牌",
    "setup.provisioned": "这台终端已设置。重新输入可更换令牌。",
    "setup.notProvisioned": "这台终端尚未设置。",
    "setup.noStorage": "浏览器不允许保存令牌（可能处于隐私模式），请换用普通模式。",
    "err.replaced": "您已在另一处继续本次服务，此页面已断开。",
    "err.region": "所在地代码不正确，请联系现场工作人员。",
  },
  en: {
    "app.title": "YRD Remote Virtual Window",
    "app.subtitle": "Cross-province services · screen to screen",
    "lang.switch": "中文",
    "lang.switchLabel": "切换到中文",
    "nav.home": "Home",

    "index.title": "Yangtze River Delta Remote Virtual Window",
    "index.lead": "At a kiosk near you or in your browser, a clerk of the province that owns your matter helps you over video, screen to screen, step by step.",
    "index.kiosk": "Citizen: get help",
    "index.kioskDesc": "Choose your matter and the province, wait in line, and a clerk guides you over video.",
    "index.console": "Clerk console",
    "index.consoleDesc": "Log in, answer citizens' requests, serve them over video and record the outcome.",
    "index.supervisor": "Supervisor dashboard",
    "index.supervisorDesc": "Live queues, clerks' status, today's cases and the share answered within {sla} s.",
    "index.sla": "Our promise: a clerk responds within {sla} seconds.",

    "kiosk.title": "Remote help",
    "kiosk.chooseMatter": "What do you need help with?",
    "kiosk.chooseProvince": "Which province should handle it?",
    "kiosk.chosenMatter": "Matter: {name}",
    "kiosk.ask": "Call a clerk",
    "kiosk.back": "Back",
    "kiosk.loadingMatters": "Loading the matters…",
    "kiosk.noMatters": "No matters are available right now.",
    "kiosk.waitingTitle": "You are in the queue",
    "kiosk.ticket": "Ticket",
    "kiosk.position": "People ahead of you",
    "kiosk.positionValue": "{n}",
    "kiosk.positionFirst": "You are next",
    "kiosk.estimate": "Estimated wait",
    "kiosk.estimateValue": "about {t}",
    "kiosk.estimateSoon": "any moment",
    "kiosk.waitingHint": "Please stay here: the video opens by itself when a clerk answers.",
    "kiosk.cancel": "Leave the queue",
    "kiosk.callWith": "{name} ({region}) is serving you",
    "kiosk.clerk": "Clerk",
    "kiosk.me": "Me",
    "kiosk.sharedScreen": "Shared screen",
    "kiosk.shareScreen": "Share my screen",
    "kiosk.stopShare": "Stop sharing",
    "kiosk.hangUp": "Hang up",
    "kiosk.hangUpConfirm": "End this video call?",
    "kiosk.rateTitle": "How was our service?",
    "kiosk.rateCase": "Case number: {id}",
    "kiosk.comment": "Comments (optional)",
    "kiosk.submitRating": "Send rating",
    "kiosk.skipRating": "Skip",
    "kiosk.doneTitle": "Thank you for your rating!",
    "kiosk.doneText": "Please keep your case number: {id}",
    "kiosk.doneNoRate": "The session has ended.",
    "kiosk.again": "Get help with something else",
    "kiosk.ended.resolved": "The clerk has completed your matter.",
    "kiosk.ended.referred": "Your matter has been passed to the responsible office.",
    "kiosk.ended.unresolved": "Your matter is not finished yet; the clerk will contact you.",
    "kiosk.ended.cancelled": "You left the queue.",
    "kiosk.ended.abandoned": "Your place in the queue has ended. Please call again.",
    "kiosk.ended.other": "The session has ended.",
    "kiosk.caseLine": "Case number: {id}",
    "kiosk.estimateUnknown": "cannot estimate",
    "kiosk.estimatePending": "—",
    "kiosk.estimateUnknownHint": "No clerk for this service is on duty right now, so we cannot tell how long the wait will be. You can keep waiting, or leave the queue and come back later.",
    "kiosk.transferred": "The clerk has passed your matter to a clerk in {region} ({skill}), so the video call has ended. Please wait here: you are first in line, and the video opens by itself when the new clerk answers. Your case number stays the same.",
    "kiosk.transferNote": "Reason: {note}",
    "kiosk.requeued": "The clerk's connection dropped and they could not come back. You are back in the queue, first in line. Please wait here. Your case number stays the same.",
    "kiosk.clerkAway": "The clerk's connection dropped for a moment and is coming back. Please stay here and wait (up to about {t}).",
    "kiosk.ended.expired": "Sorry, the wait was too long and your call for help has ended. If you still need help, please press \"Call a clerk\" again.",
    "kiosk.ended.expiredChoose": "Sorry, the wait was too long and your call for help has ended. If you still need help, please choose your matter and call a clerk again.",
    "kiosk.cameraOff": "No camera or microphone was found. The clerk may not see you but can still help.",
    "kiosk.enableSound": "Tap to turn on sound",
    "kiosk.where": "Your location: {region}",

    "rating.5": "Very satisfied",
    "rating.4": "Satisfied",
    "rating.3": "Fairly satisfied",
    "rating.2": "Dissatisfied",
    "rating.1": "Very dissatisfied",

    "conn.connecting": "Connecting to the server…",
    "conn.online": "Connected",
    "conn.lost": "Connection lost, reconnecting…",
    "conn.moving": "The server is switching over; reconnecting…",
    "conn.refused": "Cannot connect: {msg}",

    "media.new": "Getting ready",
    "media.connecting": "Connecting the video…",
    "media.connected": "Video connected",
    "media.disconnected": "The video is unstable, recovering…",
    "media.failed": "The video dropped, reconnecting…",
    "media.closed": "Video closed",

    "login.title": "Log in",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.logout": "Log out",
    "login.wrongRole.clerk": "This account is not a clerk account.",
    "login.wrongRole.supervisor": "This account is not a supervisor account.",
    "login.failed": "Wrong username or password.",
    "login.throttled": "Too many failed log-ins. Please wait a few minutes.",
    "login.expired": "Your log-in has expired. Please log in again.",

    "console.title": "Clerk console",
    "console.status": "Status",
    "status.available": "Available",
    "status.break": "On break",
    "status.offline": "Offline",
    "status.busy": "In a case",
    "status.offered": "Ringing",
    "status.wrap_up": "Wrapping up",
    "status.reason.missed_offer": "You missed a request, so you were put on break. Choose “Available” when you are ready.",
    "status.reason.reconnected": "Reconnected.",
    "console.goAvailable": "Available",
    "console.goBreak": "Break",
    "console.goOffline": "Offline",
    "console.offers": "Incoming requests",
    "console.noOffers": "No requests. Once you are available, new requests appear here.",
    "console.offerFrom": "From {origin} · {channel}",
    "console.offerWaited": "waited {s} s",
    "console.offerExpires": "answer within {s} s",
    "console.priority": "Priority",
    "console.accept": "Accept",
    "console.decline": "Decline",
    "console.withdrawn.expired": "Request {id} was not answered in time and went to another clerk.",
    "console.withdrawn.citizen_away": "The citizen of request {id} lost the connection; it will be offered again when they are back.",
    "console.withdrawn.cancelled": "Request {id} was cancelled by the citizen.",
    "console.withdrawn.withdrawn": "Request {id} was withdrawn.",
    "console.withdrawn.declined": "You declined request {id}.",
    "console.withdrawn.other": "Request {id} has ended.",
    "console.case": "Current case",
    "console.caseId": "Case number",
    "console.citizen": "Citizen",
    "console.citizenFrom": "{origin} · {channel}",
    "console.matter": "Matter",
    "console.citizenVideo": "Citizen",
    "console.myVideo": "Me",
    "console.citizenScreen": "Citizen's shared screen",
    "console.shareScreen": "Share screen",
    "console.stopShare": "Stop sharing",
    "console.reconnectVideo": "Reconnect video",
    "console.end": "End the case",
    "console.outcome": "Outcome",
    "console.notes": "Notes",
    "console.notesPlaceholder": "What was done, documents still needed, …",
    "console.endSubmit": "End and submit",
    "console.citizenEnded": "The citizen hung up. Record the outcome and submit.",
    "console.transfer": "Transfer",
    "console.transferTitle": "Transfer to another province or matter",
    "console.transferMatter": "Matter",
    "console.transferProvince": "Province",
    "console.transferChoose": "Choose…",
    "console.transferCurrent": "{name} (current queue)",
    "console.transferNote": "Reason (the citizen sees it too)",
    "console.transferNotePlaceholder": "e.g. this has to be handled by Jiangsu's social insurance centre",
    "console.transferHint": "On confirming, this call ends and you are free for the next citizen; the citizen waits first in line in the new queue and keeps the case number.",
    "console.transferSummary": "To: {region} · {matter}",
    "console.transferConfirm": "Confirm transfer",
    "console.transferCancel": "Cancel",
    "console.transferNeedProvince": "Please choose a province.",
    "console.transferNeedNote": "Please give a reason for the transfer.",
    "console.transferBadRequest": "Cannot transfer there: that province does not handle this matter, or the case is already in that queue.",
    "console.transferDone": "Case {id} was transferred to {region} ({matter}).",
    "console.history": "Handled today",
    "console.noHistory": "No cases handled yet today.",
    "console.me": "{region} · skills: {skills}",
    "channel.kiosk": "kiosk",
    "channel.web": "web",
    "outcome.resolved": "Resolved",
    "outcome.referred": "Referred",
    "outcome.unresolved": "Unresolved",
    "outcome.citizen_ended": "Citizen hung up",
    "outcome.transferred": "Transferred",

    "sup.title": "Supervisor dashboard",
    "sup.today": "Today",
    "sup.sl": "Answered within {sla} s",
    "sup.requests": "Requests",
    "sup.answered": "Answered",
    "sup.within": "Within {sla} s",
    "sup.abandoned": "Abandoned",
    "sup.asa": "Average answer time",
    "sup.openCases": "Open cases",
    "sup.resolution": "Resolution rate",
    "sup.positive": "Positive ratings",
    "sup.alerts": "Citizens waiting over {s} s",
    "sup.noAlerts": "Nobody has waited too long.",
    "sup.alertLine": "{ticket} · {region} · {skill} · waiting {s} s",
    "sup.recentAlerts": "Recent alerts",
    "sup.noRecentAlerts": "No alerts yet.",
    "sup.mute": "Mute",
    "sup.unmute": "Unmute",
    "sup.alert.pre_breach": "About to breach",
    "sup.alert.breach": "Breached",
    "sup.eventLine": "{time} · {kind} · {ticket} · {region} · {skill} · waited {s} s",
    "sup.queues": "Queues",
    "sup.noQueues": "Nobody is waiting.",
    "sup.col.region": "Province",
    "sup.col.skill": "Service",
    "sup.col.waiting": "Waiting",
    "sup.col.offered": "Ringing",
    "sup.col.oldest": "Oldest wait",
    "sup.col.staffed": "Staffed",
    "sup.clerks": "Clerks",
    "sup.noClerks": "No clerk is online.",
    "sup.col.name": "Name",
    "sup.col.status": "Status",
    "sup.col.case": "Case",
    "sup.updated": "Updated {t}",
    "sup.stale": "No fresh data, reconnecting…",
    "sup.none": "—",
    "staff.title": "Staffing: how many clerks it takes",
    "staff.lead": "Erlang C's figures, and optionally the real routing code simulated in virtual time with the same arrivals (nobody giving up).",
    "staff.arrivals": "Requests per hour",
    "staff.aht": "Average handle time (s)",
    "staff.sla": "Answer within (s)",
    "staff.goal": "Service level goal (%)",
    "staff.clerks": "Clerks (optional)",
    "staff.simulate": "Also simulate 8 hours",
    "staff.submit": "Calculate",
    "staff.col.figure": "Figure",
    "staff.col.erlang": "Erlang C",
    "staff.col.simulated": "Simulated",
    "staff.needed": "At least {n} clerks answer {goal} within {sla} s (offered load {load} Erlangs).",
    "staff.forClerks": "The figures below are for {n} clerks.",
    "staff.unstable": "{n} clerks cannot keep up: the queue would grow without end.",
    "staff.seconds": "{n} s",
    "staff.row.clerks": "Clerks",
    "staff.row.sl": "Answered within {sla} s",
    "staff.row.asa": "Average answer time",
    "staff.row.occupancy": "Clerk occupancy",
    "staff.row.pwait": "Share who wait",
    "staff.row.arrivals": "Requests / answered",
    "unit.s": "{n} s",
    "unit.min": "{n} min",

    "skill.social_insurance": "Social insurance",
    "skill.pension": "Pensions",
    "skill.medical_insurance": "Medical insurance",
    "skill.housing_fund": "Housing fund",
    "skill.household": "Household & ID",
    "skill.business": "Business registration",
    "skill.vehicle": "Driving & vehicles",
    "skill.real_estate": "Real estate",

    "err.bad_request": "The request was not valid.",
    "err.unauthorized": "We could not confirm who you are. Please log in again or ask staff.",
    "err.forbidden": "You are not allowed to do that.",
    "err.not_found": "That was not found; it may have ended already.",
    "err.conflict": "That clashes with the current state; it may have been handled already.",
    "err.rate_limited": "Too many actions at once. Please wait a moment.",
    "err.unavailable": "The server cannot do that right now. Please try again.",
    "err.timeout": "The server did not answer. Please check the network and try again.",
    "err.network": "Could not reach the server. Please check the network.",
    "err.media": "Could not open the camera or screen sharing: {msg}",
    "err.unknown": "Something went wrong. Please try again.",
    "err.kioskToken": "This kiosk is not registered or is disabled. Please ask the staff on site.",
    "setup.title": "Kiosk setup",
    "setup.lead": "Done once by the kiosk's administrator: enter the kiosk token that rvw kiosk add printed. It is kept in this kiosk's browser only, never in an address.",
    "setup.token": "Kiosk token",
    "setup.save": "Save and open the kiosk page",
    "setup.clear": "Remove the token from this kiosk",
    "setup.provisioned": "This kiosk is set up. Enter a token again to replace it.",
    "setup.notProvisioned": "This kiosk is not set up yet.",
    "setup.noStorage": "The browser does not allow storing the token (private mode?); use a normal window.",
    "err.replaced": "You continued this session somewhere else; this page is disconnected.",
    "err.region": "The location code is not valid. Please ask the staff on site.",
  },
};

// Region names (GB/T 2260): provinces and the cities and districts the pages may meet.
const REGIONS = {
  "310000": ["上海", "Shanghai"],
  "320000": ["江苏", "Jiangsu"],
  "330000": ["浙江", "Zhejiang"],
  "340000": ["安徽", "Anhui"],
  "310101": ["黄浦", "Huangpu"],
  "310104": ["徐汇", "Xuhui"],
  "310105": ["长宁", "Changning"],
  "310106": ["静安", "Jing'an"],
  "310112": ["闵行", "Minhang"],
  "310115": ["浦东", "Pudong"],
  "310117": ["松江", "Songjiang"],
  "310118": ["青浦", "Qingpu"],
  "320100": ["南京", "Nanjing"],
  "320200": ["无锡", "Wuxi"],
  "320500": ["苏州", "Suzhou"],
  "320600": ["南通", "Nantong"],
  "330100": ["杭州", "Hangzhou"],
  "330200": ["宁波", "Ningbo"],
  "330400": ["嘉兴", "Jiaxing"],
  "330500": ["湖州", "Huzhou"],
  "340100": ["合肥", "Hefei"],
  "340200": ["芜湖", "Wuhu"],
  "340500": ["马鞍山", "Ma'anshan"],
  "341800": ["宣城", "Xuancheng"],
};

export const LANGS = Object.keys(DICT);
const listeners = [];

function stored() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return LANGS.includes(value) ? value : null;
  } catch {
    return null;
  }
}

let current = stored() || "zh";

export function lang() {
  return current;
}

/** The text for `key` in the current language, with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  let text = DICT[current][key];
  if (text === undefined) text = DICT.zh[key];
  if (text === undefined) return key;
  if (vars) {
    text = text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
  }
  return text;
}

/** "江苏 · 苏州" / "Suzhou, Jiangsu" for a region code; unknown codes fall back to the province. */
export function regionName(code) {
  if (!code) return "";
  code = String(code);
  const i = current === "en" ? 1 : 0;
  const province = REGIONS[code.slice(0, 2) + "0000"];
  const own = REGIONS[code];
  if (own && code.endsWith("0000")) return own[i];
  if (own && province) return current === "en" ? `${own[i]}, ${province[i]}` : `${province[i]} · ${own[i]}`;
  if (province) return current === "en" ? `${province[i]} (${code})` : `${province[i]}（${code}）`;
  return code;
}

export function skillName(skill) {
  const key = `skill.${skill}`;
  const text = t(key);
  return text === key ? skill : text;
}

/** The name of a matter from the catalog's {"zh", "en"} pair. */
export function localName(name) {
  if (!name || typeof name === "string") return name || "";
  return name[current] || name.zh || name.en || "";
}

export function apply(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n, varsOf(el));
  }
  for (const [attr, data] of [
    ["placeholder", "i18nPlaceholder"],
    ["title", "i18nTitle"],
    ["aria-label", "i18nAriaLabel"],
  ]) {
    for (const el of root.querySelectorAll(`[data-${attrName(data)}]`)) {
      el.setAttribute(attr, t(el.dataset[data], varsOf(el)));
    }
  }
  const title = document.querySelector("meta[name=rvw-title]");
  if (title) document.title = `${t(title.content)} · ${t("app.title")}`;
}

function attrName(dataKey) {
  return dataKey.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

// data-i18n-vars='{"sla": 60}' supplies placeholder values.
function varsOf(el) {
  const raw = el.dataset.i18nVars;
  if (!raw) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

export function setLang(value) {
  if (!LANGS.includes(value) || value === current) return;
  current = value;
  try {
    localStorage.setItem(STORAGE_KEY, value);
  } catch {
    // private mode: the choice lasts for this page only
  }
  apply();
  for (const fn of listeners) fn(current);
}

/** Call `fn` after every language change (pages re-render what they built themselves). */
export function onChange(fn) {
  listeners.push(fn);
}

function init() {
  apply();
  const button = document.getElementById("lang-switch");
  if (button) {
    button.addEventListener("click", () => setLang(current === "zh" ? "en" : "zh"));
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", init);
} else {
  init();
}
